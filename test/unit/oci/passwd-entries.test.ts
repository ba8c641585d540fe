import t from 'tap';
import { parseGroup, parsePasswd } from '../../../src/oci/user';

// Which lines of an image's /etc/passwd and /etc/group count as entries.
t.test('passwd: comments, short lines, nameless lines and non-numeric ids are not entries', async (t) => {
  const text = ['# root:x:0:0', 'root:x:0:0:root:/root:/bin/sh', 'short:x:1', ':x:2:2::/:/bin/sh', 'bad:x:u:3::/:/bin/sh', 'nogid:x:4:g', 'daemon:x:1:1', ''].join('\n');
  t.same(parsePasswd(text), [
    { name: 'root', uid: 0, gid: 0 },
    { name: 'daemon', uid: 1, gid: 1 },
  ]);
});

t.test('group: members split on commas and trimmed; a missing members field is no members', async (t) => {
  const text = ['#users:x:100:alice', 'users:x:100:alice, bob,', 'wheel:x:10', ':x:11:', 'bad:x:g:alice', 'short:x', ''].join('\n');
  t.same(parseGroup(text), [
    { name: 'users', gid: 100, members: ['alice', 'bob'] },
    { name: 'wheel', gid: 10, members: [] },
  ]);
});
