// image_sub_path resolution inside an image volume's view (src/image/sub-path.ts),
// over a fake tree: what it finds, and what a hostile image's symlinks cannot reach.

import t from 'tap';
import { InvalidArgumentError } from '../../../common/errors';
import { MAX_SYMLINKS, resolveSubPath, subPathComponents, type SubPathFs } from '../../../src/image/sub-path';

type Node = { dir: true } | { file: true } | { link: string };

/** A tree under /view: paths relative to it. */
function fakeFs(tree: Record<string, Node>): SubPathFs & { seen: string[] } {
  const seen: string[] = [];
  const get = (p: string): Node | undefined => {
    seen.push(p);
    if (!p.startsWith('/view/')) throw new Error(`looked outside the view: ${p}`);
    return tree[p.slice('/view/'.length)];
  };
  return {
    seen,
    lstat: async (p) => {
      const n = get(p);
      if (!n) return undefined;
      return { isSymbolicLink: () => 'link' in n, isDirectory: () => 'dir' in n };
    },
    readlink: async (p) => {
      const n = get(p);
      if (!n || !('link' in n)) throw new Error(`not a link: ${p}`);
      return n.link;
    },
  };
}

const F = 'config.mounts[1].image_sub_path';
const tree: Record<string, Node> = {
  data: { dir: true },
  'data/sub': { dir: true },
  'data/file': { file: true },
  'data/up': { link: '..' },
  'data/upup': { link: 'up/..' },
  rel: { link: 'data/sub' },
  dotdot: { link: 'data/../data/sub' },
  chain: { link: 'rel' },
  abs: { link: '/etc' },
  out: { link: '../../etc' },
  deepout: { link: 'data/../../etc' },
  'data/esc': { link: '../../../root' },
  loop1: { link: 'loop2' },
  loop2: { link: 'loop1' },
  tofile: { link: 'data/file' },
};

t.test('request checks before anything is mounted', async (t) => {
  t.same(subPathComponents('', F), []);
  t.same(subPathComponents('./a//b/', F), ['a', 'b']);
  for (const [p, msg] of [
    ['/etc', /absolute/],
    ['../etc', /"\.\."/],
    ['a/../../b', /"\.\."/],
    ['a/..', /"\.\."/],
    ['a\0b', /NUL/],
  ] as const) {
    t.throws(() => subPathComponents(p, F), { constructor: InvalidArgumentError, message: new RegExp(`^${F.replace(/[[\].]/g, '\\$&')}: .*${msg.source}`) }, `refuses ${JSON.stringify(p)}`);
  }
});

t.test('resolves plain paths and symlinks that stay inside', async (t) => {
  const fs = fakeFs(tree);
  t.equal(await resolveSubPath('/view', '', F, 'img', fs), '/view', 'empty: the view itself');
  t.equal(await resolveSubPath('/view', 'data/sub', F, 'img', fs), '/view/data/sub');
  t.equal(await resolveSubPath('/view', 'rel', F, 'img', fs), '/view/data/sub', 'relative link');
  t.equal(await resolveSubPath('/view', 'chain', F, 'img', fs), '/view/data/sub', 'link to a link');
  t.equal(await resolveSubPath('/view', 'dotdot', F, 'img', fs), '/view/data/sub', '".." inside a target that stays in');
  t.equal(await resolveSubPath('/view', 'data/up/data', F, 'img', fs), '/view/data', 'link to its parent');
  t.notOk(
    fs.seen.some((p) => !p.startsWith('/view/')),
    'never looked outside the view',
  );
});

t.test('refuses what leads out, what is missing, what is not a directory', async (t) => {
  const fs = fakeFs(tree);
  const refused = async (sub: string, msg: RegExp, what: string): Promise<void> => {
    await t.rejects(resolveSubPath('/view', sub, F, 'img', fs), { constructor: InvalidArgumentError, message: msg }, what);
  };
  await refused('abs', /leads out of image img: its symlink \/abs points to "\/etc"/, 'absolute symlink');
  await refused('out', /leads out of image img.*"\.\.\/\.\.\/etc"/, 'relative symlink above the root');
  await refused('deepout', /leads out/, 'symlink that climbs out after going in');
  await refused('data/esc', /leads out/, 'nested symlink above the root');
  await refused('data/upup', /leads out of image img through a symlink to "\.\." above its root/, 'a link to a link to ".." climbing out (only the walk sees it)');
  await refused('loop1', new RegExp(`more than ${MAX_SYMLINKS} symlinks`), 'a loop');
  await refused('missing/x', /"missing\/x" does not exist in image img \(\/missing is missing\)/, 'missing path');
  await refused('data/file', /\/data\/file is not a directory/, 'a file');
  await refused('tofile', /\/data\/file is not a directory/, 'a link to a file');
  await refused('data/file/x', /not a directory/, 'a path through a file');
  const e = await resolveSubPath('/view', 'abs', F, 'img', fs).catch((err: InvalidArgumentError) => err);
  t.equal((e as InvalidArgumentError).field, F, 'names the mount field');
});
