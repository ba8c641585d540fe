// ExecSync with runc: runs a command in a running container and collects its
// output. The output kept is capped (kubelet's 16 MiB per stream, and both
// together cut to fit one gRPC message, with a marker: ../exec-output.ts);
// anything beyond is read and dropped so the process never blocks and the
// daemon never buffers more than the cap. On timeout the exec'd process is
// SIGKILLed.

import { spawnChild } from '../../../common/native/spawn';
import { readFile, rm } from 'node:fs/promises';
import { DeadlineExceededError, UnavailableError } from '../../../common/errors';
import { EXEC_OUTPUT_CAP } from '../controller';
import { ExecStreamCollector, fitExecOutput } from '../exec-output';

/** How long `runc exec` gets to exit after its process was killed. */
const RUNC_GRACE_MS = 5_000;
/** How long output is still read after the command exited. */
const DRAIN_MS = 2_000;

export interface ExecSyncResult {
  stdout: Buffer;
  stderr: Buffer;
  exitCode: number;
}

export interface ExecSyncOptions {
  runcBinary: string;
  runcRoot: string;
  id: string;
  cmd: string[];
  /** Seconds; 0 = no timeout. */
  timeoutS: number;
  /** Where runc writes the exec'd process PID (so a timeout can kill it). */
  pidFile: string;
  cap?: number;
}

export function execSync(o: ExecSyncOptions): Promise<ExecSyncResult> {
  const cap = o.cap ?? EXEC_OUTPUT_CAP;
  return new Promise((resolve, reject) => {
    const child = spawnChild(o.runcBinary, ['--root', o.runcRoot, 'exec', '--pid-file', o.pidFile, o.id, ...o.cmd], { stdio: ['ignore', 'pipe', 'pipe'] });
    const out = new ExecStreamCollector(cap);
    const err = new ExecStreamCollector(cap);
    child.stdout!.on('data', (b: Buffer) => out.push(b));
    child.stderr!.on('data', (b: Buffer) => err.push(b));
    let timedOut = false;
    const timer =
      o.timeoutS > 0
        ? setTimeout(() => {
            timedOut = true;
            // Kill the exec'd process and let `runc exec` reap it and exit; killing
            // runc first would hand the zombie to whatever reaps on the host.
            void readFile(o.pidFile, 'utf8')
              .then((pid) => process.kill(Number(pid.trim()), 'SIGKILL'))
              .catch(() => child.kill('SIGKILL'));
            setTimeout(() => child.kill('SIGKILL'), RUNC_GRACE_MS).unref();
          }, o.timeoutS * 1000)
        : undefined;
    child.on('error', (e: NodeJS.ErrnoException) => {
      if (timer) clearTimeout(timer);
      reject(e.code === 'ENOENT' ? new UnavailableError(`${o.runcBinary} is not installed`) : e);
    });
    // Background processes the command started may keep the pipes open after
    // it exited; output is drained for a moment after the exit, then dropped.
    let drain: NodeJS.Timeout | undefined;
    let settled = false;
    const settle = (code: number | null, signal: NodeJS.Signals | null) => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      if (drain) clearTimeout(drain);
      child.stdout!.destroy();
      child.stderr!.destroy();
      void rm(o.pidFile, { force: true })
        .catch(() => undefined)
        .finally(() => {
          if (timedOut) return reject(new DeadlineExceededError(`command ${JSON.stringify(o.cmd)} in container ${o.id} timed out after ${o.timeoutS}s and was killed`));
          resolve({ ...fitExecOutput(out.collected(), err.collected()), exitCode: code ?? (signal ? 128 + 9 : 255) });
        });
    };
    child.on('exit', (code, signal) => {
      drain = setTimeout(() => settle(code, signal), timedOut ? 0 : DRAIN_MS);
    });
    child.on('close', (code, signal) => settle(code, signal));
  });
}
