// A lock left by a daemon that died, naming a PID that now belongs to a live,
// unrelated process (the PID was reused after a reboot, or on a busy node):
// the real daemon must start on that root anyway, and take the lock over.
// A process we spawned (sleep) plays the unrelated holder; nothing here
// starts a pod.

import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatLock, parseLock, statStartTime } from '../../src/daemon/lock';
import { startDaemon } from '../helpers/daemon';
import { tmpdir } from 'node:os';

const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();

t.test('a stale lock naming a live unrelated pid does not keep the daemon from starting', async (t) => {
  const sleeper = spawn('sleep', ['600'], { stdio: 'ignore' });
  t.teardown(() => sleeper.kill('SIGKILL'));
  const pid = sleeper.pid!;
  const realStart = statStartTime(readFileSync(`/proc/${pid}/stat`, 'utf8'))!;
  const cases = [
    { why: 'same boot, the pid started later than the holder did', holder: { pid, bootId, startTime: String(Number(realStart) + 1) } },
    { why: 'written in an earlier boot', holder: { pid, bootId: '00000000-0000-0000-0000-000000000000', startTime: realStart } },
  ];
  for (const c of cases) {
    const dir = mkdtempSync(join(tmpdir(), 'vmpod-stale-lock-'));
    // startDaemon keeps a directory it was given; never rm -rf through the daemon's netns pin mount.
    t.teardown(() => {
      spawnSync('umount', ['-l', join(dir, 'state', 'netns')]);
      rmSync(dir, { recursive: true, force: true });
    });
    mkdirSync(join(dir, 'root'), { recursive: true });
    const lock = join(dir, 'root', 'vmpod.lock');
    writeFileSync(lock, formatLock(c.holder));
    const d = await startDaemon(t, { dir, logLevel: 'info' });
    t.ok(sleeper.exitCode === null && sleeper.signalCode === null, `${c.why}: the unrelated process is left alone`);
    t.equal(parseLock(readFileSync(lock, 'utf8'))?.pid, d.proc.pid, `${c.why}: the daemon serves and holds the lock`);
    t.equal(await d.stop(), 0, `${c.why}: and stops cleanly`);
  }
});
