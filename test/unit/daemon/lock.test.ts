import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { claimSocketPath, DaemonAlreadyRunningError, formatLock, holderRuns, lockRoot, parseLock, statStartTime, type HostProbe } from '../../../src/daemon/lock';

function tmp(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-lock-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

t.test('root lock: taken, refused while held by a live process, released', async (t) => {
  const dir = tmp(t);
  const lock = join(dir, 'vmpod.lock');
  const release = lockRoot(lock);
  const mine = parseLock(readFileSync(lock, 'utf8'));
  t.equal(mine?.pid, process.pid);
  t.match(mine?.startTime, /^\d+$/, 'the start time is recorded');
  t.equal(mine?.bootId, readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim(), 'the boot is recorded');
  // Held by another live process (a sleeping child stands in for a second daemon).
  const child = spawn('sleep', ['30']);
  t.teardown(() => child.kill('SIGKILL'));
  release();
  writeFileSync(lock, `${child.pid}\n`);
  t.throws(() => lockRoot(lock), DaemonAlreadyRunningError);
  t.throws(() => lockRoot(lock), new RegExp(`pid ${child.pid}`));
});

t.test('root lock: a stale lock of a dead process is taken over', async (t) => {
  const dir = tmp(t);
  const lock = join(dir, 'vmpod.lock');
  const child = spawn('true');
  await new Promise((r) => child.once('exit', r));
  writeFileSync(lock, `${child.pid}\n`);
  const release = lockRoot(lock);
  t.equal(parseLock(readFileSync(lock, 'utf8'))?.pid, process.pid);
  release();
});

t.test('root lock: a live process that reused the pid of a dead daemon does not hold the lock', async (t) => {
  const dir = tmp(t);
  const lock = join(dir, 'vmpod.lock');
  const child = spawn('sleep', ['30']);
  t.teardown(() => child.kill('SIGKILL'));
  // The dead daemon had this pid but started at another time (pid reuse).
  writeFileSync(lock, formatLock({ pid: child.pid!, bootId: readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim(), startTime: '1' }));
  const release = lockRoot(lock);
  t.equal(parseLock(readFileSync(lock, 'utf8'))?.pid, process.pid, 'taken over');
  release();
  // The same pid in an earlier boot: stale too.
  writeFileSync(lock, formatLock({ pid: child.pid!, bootId: 'an-earlier-boot' }));
  lockRoot(lock)();
  // A torn or empty file names nobody.
  writeFileSync(lock, '');
  lockRoot(lock)();
});

t.test('lock holder: same boot, alive and same start time is the only live holder', (t) => {
  const probe = (o: Partial<{ boot: string; alive: boolean; start: string }>): HostProbe => ({ bootId: () => o.boot, alive: () => o.alive ?? true, startTime: () => o.start });
  t.equal(holderRuns({ pid: 7, bootId: 'b', startTime: '100' }, probe({ boot: 'b', start: '100' })), true);
  t.equal(holderRuns({ pid: 7, bootId: 'b', startTime: '100' }, probe({ boot: 'b', start: '200' })), false, 'pid reused');
  t.equal(holderRuns({ pid: 7, bootId: 'a', startTime: '100' }, probe({ boot: 'b', start: '100' })), false, 'another boot');
  t.equal(holderRuns({ pid: 7, bootId: 'b', startTime: '100' }, probe({ boot: 'b', alive: false })), false, 'dead');
  t.equal(holderRuns({ pid: 7 }, probe({ boot: 'b', start: '5' })), true, 'an old-format lock falls back to liveness');
  t.same(parseLock('42\n'), { pid: 42, bootId: undefined, startTime: undefined });
  t.equal(parseLock('x\n'), null);
  t.equal(parseLock('-3\n'), null);
  t.same(parseLock(formatLock({ pid: 9, bootId: 'b', startTime: '12' })), { pid: 9, bootId: 'b', startTime: '12' });
  // /proc/<pid>/stat: the name may hold ') ' itself; field 22 counts from the last ')'.
  t.equal(statStartTime('123 (a) b) S 1 123 123 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 98765 1000 10 18446744073709551615'), '98765');
  t.equal(statStartTime('garbage'), undefined);
  t.end();
});

t.test('socket: free path ok, live listener refused, dead socket file removed, regular file refused', async (t) => {
  const dir = tmp(t);
  await claimSocketPath(join(dir, 'none.sock'));
  const live = join(dir, 'live.sock');
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(live, r));
  t.teardown(() => srv.close());
  await t.rejects(claimSocketPath(live), /already answering/);
  const file = join(dir, 'file.sock');
  writeFileSync(file, 'x');
  await t.rejects(claimSocketPath(file), /not a socket/);
});
