import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdir as nodeMkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeDirs, makeDirsSync } from '../../../src/host/make-dirs';

t.test('makes missing parents with the mode, accepts an existing directory, refuses a file in the way', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'vmpod-make-dirs-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await makeDirs(join(dir, 'a/b/c'), 0o700);
  t.ok((await stat(join(dir, 'a/b/c'))).isDirectory(), 'the whole chain exists');
  t.equal((await stat(join(dir, 'a/b'))).mode & 0o777, 0o700, 'parents get the mode too');
  await t.resolves(makeDirs(join(dir, 'a/b/c'), 0o700), 'an existing directory is fine');
  await t.resolves(Promise.all([makeDirs(join(dir, 'x/y/1')), makeDirs(join(dir, 'x/y/2'))]), 'concurrent callers sharing parents');
  await writeFile(join(dir, 'f'), '');
  await t.rejects(makeDirs(join(dir, 'f')), { code: 'EEXIST' }, 'a file where the directory should be');
  await t.rejects(makeDirs(join(dir, 'f/g')), { code: 'ENOTDIR' }, 'a file as a parent');
});

t.test('makeDirsSync follows the same rules', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'vmpod-make-dirs-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  makeDirsSync(join(dir, 'a/b/c'), 0o700);
  t.ok((await stat(join(dir, 'a/b/c'))).isDirectory(), 'the whole chain exists');
  t.equal((await stat(join(dir, 'a/b'))).mode & 0o777, 0o700, 'parents get the mode too');
  t.doesNotThrow(() => makeDirsSync(join(dir, 'a/b/c'), 0o700), 'an existing directory is fine');
  await writeFile(join(dir, 'f'), '');
  t.throws(() => makeDirsSync(join(dir, 'f')), { code: 'EEXIST' }, 'a file where the directory should be');
  t.throws(() => makeDirsSync(join(dir, 'f/g')), { code: 'ENOTDIR' }, 'a file as a parent');
});

// The reason it exists: on a full filesystem Node's recursive mkdir says ENOENT.
const root = process.getuid?.() === 0;
t.test('a full filesystem is ENOSPC, where Node 20 recursive mkdir says ENOENT', { skip: root ? false : 'needs root to mount a small tmpfs' }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'vmpod-make-dirs-full-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1M,nr_inodes=3', 'tmpfs', dir]);
  t.teardown(async () => {
    execFileSync('umount', [dir]);
    await rm(dir, { recursive: true, force: true });
  });
  // Use the inodes up (the root dir holds one).
  for (let i = 0; ; i++) {
    try {
      await nodeMkdir(join(dir, `fill${i}`));
    } catch {
      break;
    }
  }
  await t.rejects(nodeMkdir(join(dir, 'x/y'), { recursive: true }), { code: 'ENOENT' }, "Node's own recursive mkdir hides the cause (if this fails, Node was fixed)");
  await t.rejects(makeDirs(join(dir, 'x/y')), { code: 'ENOSPC' }, 'makeDirs reports the kernel errno');
  t.throws(() => makeDirsSync(join(dir, 'x/y')), { code: 'ENOSPC' }, 'and so does makeDirsSync');
});
