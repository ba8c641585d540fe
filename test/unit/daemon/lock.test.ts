import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { claimSocketPath, DaemonAlreadyRunningError, lockRoot } from '../../../src/daemon/lock';

function tmp(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-lock-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

t.test('root lock: taken, refused while held by a live process, released', async (t) => {
  const dir = tmp(t);
  const lock = join(dir, 'vmpod.lock');
  const release = lockRoot(lock);
  t.equal(readFileSync(lock, 'utf8').trim(), String(process.pid));
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
  t.equal(readFileSync(lock, 'utf8').trim(), String(process.pid));
  release();
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
