// Making and removing a VM pod's run dir (run-dir.ts) under a temporary base:
// private (0700, ours, never through a planted symlink), linked from the
// state dir, and gone with the pod in either layout.

import t from 'tap';
import { chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FailedPreconditionError } from '../../../../common/errors';
import type { Hypervisor } from '../../../../src/hypervisor/hypervisor';
import { QemuHypervisor } from '../../../../src/hypervisor/qemu';
import { vmRunPaths } from '../../../../src/sandbox/microvm/layout';
import { makeVmRunDir, removeVmRunDir } from '../../../../src/sandbox/microvm/run-dir';

function tmp(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-rundir-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// destroy() of a run dir without a launch record or pidfile only removes it: no QEMU is involved.
const hv: Hypervisor = new QemuHypervisor();
const mode = (p: string): number => statSync(p).mode & 0o7777;
/** Exists, as itself: a dangling symlink counts. */
const present = (p: string): boolean => {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
};

t.test('made private and linked from the state dir; removed with its link', async (t) => {
  const dir = tmp(t);
  const run = vmRunPaths(join(dir, 'state'), 'a'.repeat(64), join(dir, 'run', 's'));
  await makeVmRunDir(run);
  t.equal(mode(join(dir, 'run', 's')), 0o700, 'base 0700');
  t.equal(mode(run.dir), 0o700, 'run dir 0700');
  t.equal(statSync(run.dir).uid, process.geteuid!(), "owned by the daemon's user");
  t.equal(readlinkSync(run.stateLink), run.dir, '<state>/vm/<id> links to it');
  await makeVmRunDir(run);
  t.pass('making it again (a retried create) is fine');
  writeFileSync(join(run.dir, 'console.log'), 'x');
  await removeVmRunDir(hv, run);
  t.notOk(existsSync(run.dir), 'run dir gone');
  t.notOk(present(run.stateLink), 'link gone');
  t.same(readdirSync(join(dir, 'state', 'vm')), [], 'nothing left under <state>/vm');
  await removeVmRunDir(hv, run);
  t.pass('removing again is a no-op');
});

t.test('a run dir of the previous layout (a real dir at <state>/vm/<id>) is removed too', async (t) => {
  const dir = tmp(t);
  const run = vmRunPaths(join(dir, 'state'), 'b'.repeat(64), join(dir, 'run', 's'));
  mkdirSync(run.stateLink, { recursive: true });
  writeFileSync(join(run.stateLink, 'console.log'), 'old');
  await removeVmRunDir(hv, run);
  t.notOk(present(run.stateLink), 'old run dir gone');
});

t.test('a base or run dir someone else could control is refused', async (t) => {
  const cases: { desc: string; plant: (base: string, runDir: string, other: string) => void }[] = [
    { desc: 'base is a symlink', plant: (base, _r, other) => symlinkSync(other, base) },
    { desc: 'run dir is a symlink', plant: (base, runDir, other) => (mkdirSync(base, { mode: 0o700 }), symlinkSync(other, runDir)) },
    { desc: 'base owned by another user', plant: (base) => (mkdirSync(base, { mode: 0o700 }), chownSync(base, 65534, 65534)) },
    { desc: 'run dir owned by another user', plant: (base, runDir) => (mkdirSync(base, { mode: 0o700 }), mkdirSync(runDir), chownSync(runDir, 65534, 65534)) },
    { desc: 'base is a file', plant: (base) => writeFileSync(base, '') },
  ];
  for (const c of cases) {
    const dir = tmp(t);
    const base = join(dir, 's');
    const other = join(dir, 'other');
    mkdirSync(other);
    const run = vmRunPaths(join(dir, 'state'), 'c'.repeat(64), base);
    c.plant(base, run.dir, other);
    await t.rejects(makeVmRunDir(run), FailedPreconditionError, c.desc);
    t.notOk(existsSync(join(other, run.dir.split('/').at(-1)!)), `${c.desc}: nothing made through it`);
  }
});

t.test('an existing base or run dir of ours with looser modes is tightened to 0700', async (t) => {
  const dir = tmp(t);
  const base = join(dir, 's');
  const run = vmRunPaths(join(dir, 'state'), 'd'.repeat(64), base);
  mkdirSync(run.dir, { recursive: true, mode: 0o755 });
  await makeVmRunDir(run);
  t.same([mode(base), mode(run.dir)], [0o700, 0o700]);
});
