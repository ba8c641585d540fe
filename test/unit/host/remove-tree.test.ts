import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { removeTree } from '../../../src/host/remove-tree';

t.test('removeTree deletes a tree deeper than PATH_MAX, which fs.rm cannot', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-deep-'));
  t.teardown(() => execFileSync('rm', ['-rf', dir]));
  // 600 levels of 10-character names: about 6600 bytes of path, past PATH_MAX (4096),
  // built relative to each new directory as a container would.
  // Three chunks of 200 levels, each short enough for one mkdir -p.
  const chunk = Array(200).fill('dddddddddd').join('/');
  execFileSync('bash', ['-c', 'cd "$1" && for i in 1 2 3; do mkdir -p "$2" && cd "$2" || exit 1; done && echo x > f', '-', dir, chunk]);
  await t.rejects(rm(dir, { recursive: true, force: true }), { code: 'ENAMETOOLONG' }, "Node's fs.rm fails on it (why removeTree exists)");
  await removeTree(dir);
  t.notOk(existsSync(dir), 'gone');
  await removeTree(dir); // idempotent
});

t.test('removeTree deletes an ordinary tree and a missing path quietly', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-tree-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  execFileSync('bash', ['-c', 'mkdir -p "$1/a/b" && echo x > "$1/a/b/f"', '-', dir]);
  await removeTree(dir);
  t.notOk(existsSync(dir));
  await removeTree(join(dir, 'never-was'));
});
