// Starts one conmon per container (and per pod infra process). conmon
// daemonizes, runs `runc create`, then watches the container: it writes
// stdout/stderr to the CRI log file, the exit code to `<exitDir>/<id>`, an
// `oom` file into the bundle when the cgroup saw an OOM kill, and serves the
// attach socket. It outlives the daemon, so containers keep running and
// logging across daemon restarts.
//
// Handshake (conmon API version 1): conmon writes `{"data": <pid>}` to the
// pipe named by _OCI_SYNCPIPE once `runc create` succeeded, or a negative
// number and a message when it failed.

import { spawnChild } from '../../../common/native/spawn';
import { constants as fsConstants, statSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { DeadlineExceededError, FailedPreconditionError, InternalError, UnavailableError } from '../../../common/errors';
import { runcCreateError } from './create-error';

export interface ConmonOptions {
  id: string;
  /** Container name for conmon's own logging. */
  name: string;
  bundle: string;
  runcRoot: string;
  runcBinary: string;
  /** Absolute CRI log path ("" = no log). */
  logPath: string;
  exitDir: string;
  tty: boolean;
  stdin: boolean;
  stdinOnce: boolean;
  conmonBinary?: string;
  timeoutMs?: number;
  /** `runc restore` from these CRIU images instead of `runc create` (a restored container runs at once). */
  restore?: { imagesDir: string; criuBinary: string };
}

export interface ConmonStarted {
  /** PID of the container's init process (runc created, not yet started). */
  pid: number;
  conmonPid: number;
  attachSocket: string;
  exitFile: string;
}

export const conmonPidFile = (bundle: string): string => join(bundle, 'conmon.pid');
export const oomFile = (bundle: string): string => join(bundle, 'oom');
export const exitFile = (exitDir: string, id: string): string => join(exitDir, id);

export function conmonArgs(o: ConmonOptions): string[] {
  const args = [
    '--api-version',
    '1',
    '--cid',
    o.id,
    '--cuuid',
    o.id,
    '--name',
    o.name,
    '--runtime',
    o.runcBinary,
    '--bundle',
    o.bundle,
    '--container-pidfile',
    join(o.bundle, 'pidfile'),
    '--conmon-pidfile',
    conmonPidFile(o.bundle),
    '--exit-dir',
    o.exitDir,
    '--persist-dir',
    o.bundle,
    '--socket-dir-path',
    o.bundle,
    '--full-attach',
    '--runtime-arg',
    `--root=${o.runcRoot}`,
    // conmon's own pipes become the restored process's stdio: CRIU reopens pipes, not node's sockets.
    ...(o.restore ? ['--runtime-arg', `--criu=${o.restore.criuBinary}`, '--restore', o.restore.imagesDir] : []),
    '--log-level',
    'error',
    '--syslog',
  ];
  // conmon refuses to run without a log; with no CRI log path the output goes to the bundle.
  args.push('--log-path', `k8s-file:${o.logPath || join(o.bundle, 'output.log')}`);
  if (o.tty) args.push('--terminal');
  if (o.stdin) args.push('--stdin');
  if (o.stdin && !o.stdinOnce) args.push('--leave-stdin-open');
  return args;
}

export function launchConmon(o: ConmonOptions): Promise<ConmonStarted> {
  const binary = o.conmonBinary ?? 'conmon';
  const timeoutMs = o.timeoutMs ?? 60_000;
  return new Promise((resolve, reject) => {
    const child = spawnChild(binary, conmonArgs(o), {
      // fd 3 is the sync pipe; conmon's own stdio is not needed (it logs to syslog).
      stdio: ['ignore', 'ignore', 'ignore', 'pipe'],
      env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', _OCI_SYNCPIPE: '3' },
      // conmon writes its `oom` marker relative to its cwd as well as the persist dir.
      cwd: o.bundle,
      detached: true,
    });
    child.unref();
    const pipe = child.stdio[3] as NodeJS.ReadableStream & { destroy(): void };
    let buf = '';
    let done = false;
    const finish = (err: Error | null, value?: ConmonStarted) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      pipe.destroy();
      if (err) reject(err);
      else resolve(value!);
    };
    const timer = setTimeout(() => finish(new DeadlineExceededError(`conmon for ${o.id}: runc ${o.restore ? 'restore' : 'create'} did not report within ${timeoutMs} ms`)), timeoutMs);
    child.on('error', (e: NodeJS.ErrnoException) => finish(e.code === 'ENOENT' ? new UnavailableError(`${binary} is not installed (apt-get install conmon)`) : e));
    pipe.on('data', (d: Buffer) => {
      buf += d.toString('utf8');
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      let msg: { data?: number; pid?: number; message?: string };
      try {
        msg = JSON.parse(buf.slice(0, nl)) as typeof msg;
      } catch {
        return finish(new InternalError(`conmon for ${o.id} sent an unreadable reply: ${buf.slice(0, 200)}`));
      }
      const pid = msg.data ?? msg.pid ?? -1;
      if (pid <= 0) return finish(runcCreateError(o.id, msg.message ?? ''));
      finish(null, { pid, conmonPid: 0, attachSocket: join(o.bundle, 'attach'), exitFile: exitFile(o.exitDir, o.id) });
    });
    pipe.on('end', () => finish(new InternalError(`conmon for ${o.id} exited without reporting; see syslog for conmon's message`)));
  });
}

/** conmon's control FIFO message type for "reopen the log file" (kubelet rotated it). */
const CONMON_REOPEN_LOG = 2;

/** How long conmon gets to put the new log file in place. */
const REOPEN_TIMEOUT_MS = 5000;

function inodeOf(path: string): number | undefined {
  return statSync(path, { throwIfNoEntry: false })?.ino;
}

/**
 * Ask the container's conmon to reopen its CRI log file, and return once it
 * has. conmon does it asynchronously (it writes `<log>.tmp` and renames it
 * over `<log>`), but callers (kubelet's log rotation, critest) look for the
 * new file as soon as ReopenContainerLog returns, so wait until the path
 * names a file other than the one it named before.
 */
export async function reopenConmonLog(bundle: string, containerId: string, logPath: string): Promise<void> {
  const before = logPath ? inodeOf(logPath) : undefined;
  // O_WRONLY|O_NONBLOCK: fails at once (ENXIO) instead of hanging if conmon is gone.
  const fifo = await open(join(bundle, 'ctl'), fsConstants.O_WRONLY | fsConstants.O_NONBLOCK).catch((err: Error) => {
    throw new FailedPreconditionError(`container ${containerId}: conmon control pipe unavailable: ${err.message}`);
  });
  try {
    await fifo.write(`${CONMON_REOPEN_LOG} 0 0\n`);
  } finally {
    await fifo.close();
  }
  if (!logPath) return;
  const deadline = Date.now() + REOPEN_TIMEOUT_MS;
  for (;;) {
    const now = inodeOf(logPath);
    if (now !== undefined && now !== before) return;
    if (Date.now() > deadline) throw new DeadlineExceededError(`container ${containerId}: conmon did not reopen its log ${logPath} within ${REOPEN_TIMEOUT_MS} ms`);
    await sleep(10);
  }
}
