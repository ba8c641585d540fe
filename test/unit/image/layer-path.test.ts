import t from 'tap';
import { entryComponents, resolveInRoot, shQuote, UnsafeLayerError, whiteoutOf } from '../../../src/image/layer-path';
import { chainIds, overlayOptions } from '../../../src/image/snapshots';
import { sha256 } from '../../../src/image/content-store';
import { userOf } from '../../../src/image/image-config';

t.test('entry names', async (t) => {
  const ok: [string, string[]][] = [
    ['./bin/sh', ['bin', 'sh']],
    ['bin//sh/', ['bin', 'sh']],
    ['./', []],
    ['a/./b', ['a', 'b']],
    ['..foo/bar..', ['..foo', 'bar..']],
  ];
  for (const [name, parts] of ok) t.same(entryComponents(name), parts, `accepts ${name}`);
  const bad: [string, RegExp][] = [
    ['../x', /"\.\."/],
    ['a/../../x', /"\.\."/],
    ['a/..', /"\.\."/],
    ['/etc/passwd', /absolute/],
    ['a\0b', /NUL/],
  ];
  for (const [name, msg] of bad) t.throws(() => entryComponents(name), { constructor: UnsafeLayerError, message: msg }, `refuses ${JSON.stringify(name)}`);
});

t.test('whiteouts', async (t) => {
  t.same(whiteoutOf('.wh..wh..opq'), { kind: 'opaque' });
  t.same(whiteoutOf('.wh.foo'), { kind: 'whiteout', name: 'foo' });
  t.same(whiteoutOf('.wh..wh.plnk'), { kind: 'meta' }, 'AUFS metadata is skipped');
  t.equal(whiteoutOf('foo'), null);
  t.throws(() => whiteoutOf('.wh...'), { constructor: UnsafeLayerError, message: /names no file/ }, 'whiteout of ".." refused');
});

t.test('chain ids, overlay options, shell quoting, users', async (t) => {
  const a = `sha256:${'a'.repeat(64)}`;
  const b = `sha256:${'b'.repeat(64)}`;
  t.same(chainIds([a]), [a], 'first chain id is the diff id');
  t.same(chainIds([a, b]), [a, sha256(`${a} ${b}`)], 'chain(n) = sha256(chain(n-1) + " " + diff(n))');
  t.equal(overlayOptions({ lowerdirs: ['/l2', '/l1'], upper: '/u', work: '/w', mountpoint: '/m' }), 'lowerdir=/l2:/l1,upperdir=/u,workdir=/w');
  t.throws(() => overlayOptions({ lowerdirs: ['/a:b'], upper: '/u', work: '/w', mountpoint: '/m' }), /overlayfs options/);
  t.equal(shQuote("it's"), `'it'\\''s'`);
  t.same(userOf('1000:1000'), { uid: '1000', username: '' });
  t.same(userOf('nobody'), { username: 'nobody' });
  t.same(userOf(undefined), { username: '' });
});

t.test('host check names each requirement', async (t) => {
  const { checkImageHost } = await import('../../../src/image/host-check');
  const reqs = await checkImageHost();
  t.same(
    reqs.map((r) => r.what),
    ['zstd', 'setfattr', 'mknod', 'mount', 'umount', 'overlayfs'],
  );
  for (const r of reqs) t.ok(r.ok || /install|modprobe/.test(r.hint), `${r.what}: present or says how to get it`);
});

t.test('resolveInRoot never leaves the root', async (t) => {
  const cases: [string[], string, string[]][] = [
    [['a'], 'b', ['a', 'b']],
    [['a', 'b'], '../c', ['a', 'c']],
    [['a'], '../../../../etc', ['etc']],
    [['a'], '/usr/./lib/', ['usr', 'lib']],
    [[], '..', []],
  ];
  for (const [parent, target, want] of cases) t.same(resolveInRoot(parent, target), want, `${parent.join('/')} + ${target}`);
});
