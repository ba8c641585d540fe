import t from 'tap';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { registerCgroupParent, WRAPPER } from '../../../../bench/lib/isolate';

t.test('registerCgroupParent records plain names and refuses paths', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-bench-isolate-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  registerCgroupParent(dir, 'vmpod-bench-1a2b');
  registerCgroupParent(dir, 'vmpod-bench-3c4d');
  t.equal(readFileSync(join(dir, 'cgroup-parents'), 'utf8'), 'vmpod-bench-1a2b\nvmpod-bench-3c4d\n');
  const bad = [
    { desc: 'a nested path', name: 'a/b' },
    { desc: 'the parent dir (would remove the whole hierarchy)', name: '..' },
    { desc: 'the dir itself', name: '.' },
    { desc: 'an absolute path', name: '/kubepods' },
    { desc: 'an empty name', name: '' },
  ];
  for (const b of bad) t.throws(() => registerCgroupParent(dir, b.name), { message: /one plain path component/ }, b.desc);
});

t.test('the namespace wrapper privatises /run and /var/lib before anything runs, and makes tini PID 1 in its own session', async (t) => {
  const lines = WRAPPER.split('\n');
  t.equal(lines[0], 'set -e', 'a failed mount stops the run instead of writing to the host');
  const run = lines.findIndex((l) => /mount -t tmpfs .* \/run$/.test(l));
  const varlib = lines.findIndex((l) => /mount -t tmpfs .* \/var\/lib$/.test(l));
  const exec = lines.findIndex((l) => l.startsWith('exec setsid tini -- '));
  t.ok(run > 0 && varlib > 0, 'both tmpfs mounts present');
  t.ok(exec > run && exec > varlib, 'the bench starts only after both mounts');
  t.equal(exec, lines.length - 1, 'tini is exec-ed last');
});
