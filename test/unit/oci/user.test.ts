import t from 'tap';
import { checkUserRequest, resolveUser } from '../../../src/oci/user';
import { InvalidArgumentError } from '../../../common/errors';
import type { LinuxContainerSecurityContext__Output } from '../../../src/generated/cri/runtime/v1/LinuxContainerSecurityContext';

const passwd = 'root:x:0:0:root:/root:/bin/sh\nwww:x:33:33::/var/www:/bin/false\nalice:x:1000:1000::/home/alice:/bin/sh\n';
const group = 'root:x:0:\nwww:x:33:\nusers:x:100:alice,bob\nvideo:x:44:alice\nalice:x:1000:\n';

function sc(p: Partial<LinuxContainerSecurityContext__Output>): LinuxContainerSecurityContext__Output {
  return { run_as_user: null, run_as_username: '', run_as_group: null, supplemental_groups: [], ...p } as LinuxContainerSecurityContext__Output;
}

t.test('user resolution', async (t) => {
  const cases: { desc: string; sc: LinuxContainerSecurityContext__Output | null; image: string; want: object }[] = [
    { desc: 'image without User is root', sc: null, image: '', want: { uid: 0, gid: 0, additionalGids: [0] } },
    { desc: 'image User name', sc: null, image: 'alice', want: { uid: 1000, gid: 1000, additionalGids: [1000, 100, 44] } },
    { desc: 'image User uid:group name', sc: null, image: '33:users', want: { uid: 33, gid: 100, additionalGids: [100] } },
    { desc: 'image numeric uid not in passwd', sc: null, image: '4242', want: { uid: 4242, gid: 0, additionalGids: [0] } },
    { desc: 'run_as_user overrides image', sc: sc({ run_as_user: { value: '33' } }), image: 'alice', want: { uid: 33, gid: 33, additionalGids: [33] } },
    { desc: 'run_as_username', sc: sc({ run_as_username: 'alice' }), image: '', want: { uid: 1000, gid: 1000, additionalGids: [1000, 100, 44] } },
    {
      desc: 'run_as_group and supplemental groups',
      sc: sc({ run_as_user: { value: '1000' }, run_as_group: { value: '5' }, supplemental_groups: ['7', '8'] }),
      image: '',
      want: { uid: 1000, gid: 5, additionalGids: [5, 100, 44, 7, 8] },
    },
  ];
  for (const c of cases) t.same(resolveUser(c.sc, c.image, passwd, group), c.want, c.desc);
});

t.test('unknown names are invalid arguments naming the field', async (t) => {
  t.throws(() => resolveUser(null, 'nobody', passwd, group), { constructor: InvalidArgumentError, field: 'image.config.User', message: /nobody/ });
  t.throws(() => resolveUser(sc({ run_as_username: 'zed' }), '', passwd, group), { field: 'linux.security_context.run_as_username', message: /zed/ });
  t.throws(() => resolveUser(null, '0:nogroup', passwd, group), /nogroup/);
  t.throws(() => resolveUser(null, 'alice', '', ''), /not in the image's \/etc\/passwd/, 'no passwd file');
});

// Regression (critest "should return error if RunAsGroup is set without RunAsUser"):
// vmpod ran the image's user with the requested group instead of refusing.
t.test('run_as_group without a user is refused, as containerd refuses it', async (t) => {
  const cases = [
    { desc: 'group alone', sc: sc({ run_as_group: { value: '5' } }), refused: true },
    { desc: 'group with run_as_user', sc: sc({ run_as_user: { value: '0' }, run_as_group: { value: '5' } }), refused: false },
    { desc: 'group with run_as_username', sc: sc({ run_as_username: 'alice', run_as_group: { value: '5' } }), refused: false },
    { desc: 'no group', sc: sc({}), refused: false },
  ];
  for (const c of cases) {
    if (c.refused) {
      t.throws(() => checkUserRequest(c.sc), { constructor: InvalidArgumentError, field: 'config.linux.security_context.run_as_group', message: /without run_as_user/ }, `${c.desc}: refused`);
      t.throws(() => resolveUser(c.sc, 'alice', passwd, group), InvalidArgumentError, `${c.desc}: also when the spec is generated`);
    } else {
      t.doesNotThrow(() => checkUserRequest(c.sc), `${c.desc}: accepted`);
    }
  }
});
