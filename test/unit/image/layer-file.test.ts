// Image files found in the layer snapshots, top layer first, as overlayfs
// would merge them: whiteouts, opaque dirs (xattr and OCI marker), symlinks
// that stay inside the image. Layers are plain dirs in a tmp dir.

import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { OpaqueCache, opaqueByXattr, readLayerFile, resolveLayerFile } from '../../../src/image/layer-file';
import { overlayLowerdirs } from '../../../src/image/mounted-layers';

const root = process.getuid?.() === 0;
const dir = mkdtempSync(join(tmpdir(), 'vmpod-layer-file-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, 'host-secret'), 'host secret');

/** A file's content, a symlink, a special node, or an opaque directory. */
type Node = string | { link: string } | { kind: 'whiteout' | 'fifo' | 'dir' } | { dir: 'opaque-marker' | 'opaque-xattr' };
const WHITEOUT: Node = { kind: 'whiteout' };
const FIFO: Node = { kind: 'fifo' };
const DIR: Node = { kind: 'dir' };

/** Layers named bottom first in `spec`; returns their dirs top first, as overlayfs's lowerdir wants them. */
function layers(name: string, spec: Record<string, Node>[]): string[] {
  const dirs = spec.map((files, i) => {
    const l = join(dir, name, `layer${i}`);
    mkdirSync(l, { recursive: true });
    for (const [path, node] of Object.entries(files)) {
      const p = join(l, path);
      mkdirSync(dirname(p), { recursive: true });
      if (typeof node === 'string') writeFileSync(p, node);
      else if ('kind' in node && node.kind === 'whiteout') execFileSync('mknod', [p, 'c', '0', '0']);
      else if ('kind' in node && node.kind === 'fifo') execFileSync('mkfifo', [p]);
      else if ('kind' in node) mkdirSync(p, { recursive: true });
      else if ('link' in node) symlinkSync(node.link, p);
      else {
        mkdirSync(p, { recursive: true });
        if (node.dir === 'opaque-marker') writeFileSync(join(p, '.wh..wh..opq'), '');
        else execFileSync('setfattr', ['-h', '-n', 'trusted.overlay.opaque', '-v', 'y', p]);
      }
    }
    return l;
  });
  return dirs.reverse();
}

const read = async (ls: string[], path: string) => {
  const r = await readLayerFile(ls, path);
  return r.ok ? r.data.toString() : r.reason;
};

t.test('an image file is resolved across the layers as overlayfs merges them', { skip: !root && 'whiteouts (mknod) and trusted xattrs need root' }, async (t) => {
  const cases: { desc: string; spec: Record<string, Node>[]; path: string; want: string }[] = [
    { desc: 'the top layer wins', spec: [{ 'etc/passwd': 'low' }, { 'etc/passwd': 'high' }], path: '/etc/passwd', want: 'high' },
    { desc: 'a file only in a lower layer shows through', spec: [{ 'etc/passwd': 'low' }, { 'etc/other': 'x' }], path: '/etc/passwd', want: 'low' },
    { desc: 'an overlayfs whiteout (char 0/0) hides the lower file', spec: [{ 'etc/passwd': 'low' }, { 'etc/passwd': WHITEOUT }], path: '/etc/passwd', want: 'absent' },
    { desc: 'an OCI .wh. marker hides the lower file', spec: [{ 'etc/passwd': 'low' }, { 'etc/.wh.passwd': '' }], path: '/etc/passwd', want: 'absent' },
    { desc: 'a .wh. marker does not hide its own layer', spec: [{ 'etc/passwd': 'low' }, { 'etc/.wh.passwd': '', 'etc/passwd': 'same layer' }], path: '/etc/passwd', want: 'same layer' },
    { desc: 'a whited-out directory hides what is below it', spec: [{ 'etc/passwd': 'low' }, { etc: WHITEOUT }], path: '/etc/passwd', want: 'absent' },
    { desc: 'a file on top hides a directory below', spec: [{ 'etc/passwd': 'low' }, { etc: 'a file' }], path: '/etc/passwd', want: 'absent' },
    { desc: 'an opaque dir (xattr) hides the lower dir', spec: [{ 'etc/passwd': 'low' }, { etc: { dir: 'opaque-xattr' }, 'etc/group': 'g' }], path: '/etc/passwd', want: 'absent' },
    { desc: 'an opaque dir (OCI marker) hides the lower dir', spec: [{ 'etc/passwd': 'low' }, { etc: { dir: 'opaque-marker' } }], path: '/etc/passwd', want: 'absent' },
    { desc: 'an opaque dir keeps its own files', spec: [{ 'etc/passwd': 'low' }, { etc: { dir: 'opaque-xattr' }, 'etc/passwd': 'high' }], path: '/etc/passwd', want: 'high' },
    {
      desc: 'an opaque dir in the middle: above it merges, below is hidden',
      spec: [{ 'etc/group': 'low' }, { etc: { dir: 'opaque-xattr' }, 'etc/passwd': 'mid' }, { 'etc/x': '' }],
      path: '/etc/group',
      want: 'absent',
    },
    { desc: 'a non-dir below a dir ends the merge', spec: [{ 'etc/passwd': 'lowest' }, { etc: 'file' }, { 'etc/x': '' }], path: '/etc/passwd', want: 'absent' },
    { desc: 'an absolute symlink resolves in the image, across layers', spec: [{ 'usr/lib/passwd': 'real' }, { 'etc/passwd': { link: '/usr/lib/passwd' } }], path: '/etc/passwd', want: 'real' },
    { desc: 'a relative symlink with .. resolves from its own dir', spec: [{ 'usr/passwd': 'real' }, { 'etc/passwd': { link: '../usr/passwd' } }], path: '/etc/passwd', want: 'real' },
    { desc: 'a directory symlink resolves in the image', spec: [{ 'private/etc/passwd': 'real' }, { etc: { link: 'private/etc' } }], path: '/etc/passwd', want: 'real' },
    { desc: 'a symlink to a host file stays in the image', spec: [{ 'etc/passwd': { link: join(dir, 'host-secret') } }], path: '/etc/passwd', want: 'absent' },
    {
      desc: '.. in a symlink cannot climb out of the image',
      spec: [{ 'etc/passwd': { link: '../../../../../../../../host-secret' } }, { 'host-secret': 'image root file' }],
      path: '/etc/passwd',
      want: 'image root file',
    },
    { desc: "a symlink to /dev/zero is the image's /dev/zero (absent)", spec: [{ 'etc/passwd': { link: '/dev/zero' } }], path: '/etc/passwd', want: 'absent' },
    { desc: 'a FIFO in a layer is not read', spec: [{ 'etc/passwd': FIFO }], path: '/etc/passwd', want: 'not-regular' },
    { desc: 'a symlink loop', spec: [{ 'etc/passwd': { link: 'group' }, 'etc/group': { link: 'passwd' } }], path: '/etc/passwd', want: 'absent' },
    { desc: 'a directory is not a file', spec: [{ 'etc/passwd': DIR }], path: '/etc/passwd', want: 'absent' },
    { desc: 'no layer has it', spec: [{ 'etc/group': 'g' }], path: '/etc/passwd', want: 'absent' },
  ];
  for (const [i, c] of cases.entries()) t.equal(await read(layers(`case${i}`, c.spec), c.path), c.want, c.desc);
});

t.test('resolveLayerFile names the layer that holds the file', async (t) => {
  const ls = layers('which', [{ 'etc/passwd': 'low', 'etc/group': 'g' }, { 'etc/passwd': 'high' }]);
  t.same(await resolveLayerFile(ls, '/etc/passwd'), { layer: ls[0], hostPath: join(ls[0], 'etc/passwd') }, 'top layer');
  t.same(await resolveLayerFile(ls, 'etc/group'), { layer: ls[1], hostPath: join(ls[1], 'etc/group') }, 'lower layer');
  t.equal(await resolveLayerFile(ls, '/etc'), null, 'a directory is not a file');
  const probed: string[] = [];
  await resolveLayerFile(ls, '/etc/passwd', async (d) => (probed.push(d), false));
  t.same(probed, [join(ls[0], 'etc')], 'opacity is asked of a directory with layers below it, and of nothing else');
});

t.test('opaqueByXattr reads trusted.overlay.opaque', { skip: !root && 'trusted xattrs need root' }, async (t) => {
  const [l] = layers('xattr', [{ o: { dir: 'opaque-xattr' }, p: DIR }]);
  t.equal(await opaqueByXattr(join(l, 'o')), true, 'opaque');
  t.equal(await opaqueByXattr(join(l, 'p')), false, 'plain dir');
  await t.rejects(opaqueByXattr(join(l, 'missing')), /trusted\.overlay\.opaque/, 'a missing dir is an error, not "not opaque"');
});

t.test('OpaqueCache asks once per directory, and asks again after a failure', async (t) => {
  const asked: string[] = [];
  let fail = true;
  const probe = async (d: string) => {
    asked.push(d);
    if (d.endsWith('/bad') && fail) throw new Error('getfattr failed');
    return d.endsWith('/o');
  };
  const base = join(dir, 'cache-probe');
  const cache = new OpaqueCache(probe);
  t.equal(await cache.ask(join(base, 'o')), true);
  t.equal(await cache.ask(join(base, 'o')), true);
  t.equal(await cache.ask(join(base, 'p')), false);
  t.same(await Promise.all([cache.ask(join(base, 'q')), cache.ask(join(base, 'q'))]), [false, false], 'concurrent askers share one probe');
  t.same(asked, [join(base, 'o'), join(base, 'p'), join(base, 'q')], 'one probe per directory');
  await t.rejects(cache.ask(join(base, 'bad')), /getfattr failed/);
  fail = false;
  t.equal(await cache.ask(join(base, 'bad')), false, 'a failure is not remembered');
  t.equal(asked.filter((d) => d.endsWith('/bad')).length, 2);
  t.equal(await new OpaqueCache(probe).ask(join(base, 'o')), true);
  t.equal(asked.filter((d) => d.endsWith('/o')).length, 2, 'two caches (two daemons) share nothing');
});

t.test('overlayLowerdirs reads the kernel record of a mount', async (t) => {
  const line = (id: number, mp: string, type: string, opts: string) => `${id} 26 0:39 / ${mp} rw,relatime shared:1 - ${type} ${type} ${opts}`;
  const info = [
    line(40, '/run/x', 'tmpfs', 'rw,size=10k'),
    line(41, '/var/lib/vmpod/c/rootfs', 'overlay', 'rw,lowerdir=/s/b/fs:/s/a/fs,upperdir=/c/upper,workdir=/c/work,uuid=on'),
    line(42, '/var/lib/vmpod/c\\040d/rootfs', 'overlay', 'rw,lowerdir=/s/with\\040space/fs,upperdir=/u,workdir=/w'),
    line(43, '/var/lib/vmpod/rel/rootfs', 'overlay', 'rw,lowerdir=b/fs:a/fs,upperdir=/u,workdir=/w'),
    line(44, '/stacked', 'overlay', 'rw,lowerdir=/s/a/fs,upperdir=/u,workdir=/w'),
    line(45, '/stacked', 'tmpfs', 'rw'),
    line(46, '/dataonly', 'overlay', 'rw,lowerdir=/s/a/fs::/s/b/fs,upperdir=/u,workdir=/w'),
  ].join('\n');
  const cases: { desc: string; mp: string; want: string[] | undefined }[] = [
    { desc: 'an overlay, top layer first', mp: '/var/lib/vmpod/c/rootfs', want: ['/s/b/fs', '/s/a/fs'] },
    { desc: 'escaped spaces', mp: '/var/lib/vmpod/c d/rootfs', want: ['/s/with space/fs'] },
    { desc: 'relative lowerdirs are given as recorded', mp: '/var/lib/vmpod/rel/rootfs', want: ['b/fs', 'a/fs'] },
    { desc: 'not an overlay', mp: '/run/x', want: undefined },
    { desc: 'a tmpfs stacked over the overlay is what is seen', mp: '/stacked', want: undefined },
    { desc: 'data-only lowers', mp: '/dataonly', want: undefined },
    { desc: 'nothing mounted', mp: '/nowhere', want: undefined },
  ];
  for (const c of cases) t.same(overlayLowerdirs(info, c.mp), c.want, c.desc);
});
