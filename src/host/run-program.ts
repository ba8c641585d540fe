// The daemon's one-shot helper programs (umount, sync) as promisify(execFile)
// would run them, but started with posix_spawn (common/native/spawn.ts): the
// output when the program exits 0, else a ProgramError.

import { spawnChild } from '../../common/native/spawn';

/** What a program that exited 0 wrote. */
export interface ProgramOutput {
  stdout: string;
  stderr: string;
}

/**
 * A program that exited non-zero, was killed, or could not start. As the
 * error of promisify(execFile): `code` is the exit code (or the errno name,
 * ENOENT, when it could not start) and `stderr` what it said, so callers
 * written for execFile read it unchanged.
 */
export class ProgramError extends Error {
  constructor(
    message: string,
    readonly code: number | string | null,
    readonly signal: NodeJS.Signals | null,
    readonly stdout: string,
    readonly stderr: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'ProgramError';
  }
}

/**
 * promisify(execFile) through spawnChild, for the daemon's one-shot helper
 * programs (umount, sync): the output when `file` exits 0, else a
 * ProgramError naming the command.
 */
export function runProgram(file: string, args: readonly string[], opts: { cwd?: string; timeoutMs?: number } = {}): Promise<ProgramOutput> {
  return new Promise((resolve, reject) => {
    const child = spawnChild(file, args, { cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    // A program that never returns (a mount stuck on a dead filesystem) must not hold its caller forever:
    // it is killed, and the caller gets ETIMEDOUT naming the command, as execFile's `timeout` would give.
    let timedOut = false;
    const timer =
      opts.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            child.kill('SIGKILL');
          }, opts.timeoutMs);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (b: Buffer) => out.push(b));
    child.stderr!.on('data', (b: Buffer) => err.push(b));
    // Node's child may report 'close' after 'error'; the promise keeps the first.
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new ProgramError(`${[file, ...args].join(' ')}: ${e.message}`, e.code ?? null, null, '', '', { cause: e }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      if (timedOut) return reject(new ProgramError(`${[file, ...args].join(' ')} did not finish within ${opts.timeoutMs} ms and was killed`, 'ETIMEDOUT', signal, stdout, stderr));
      if (code === 0) return resolve({ stdout, stderr });
      const how = code === null ? `was killed by ${signal ?? 'a signal'}` : `exited ${code}`;
      reject(new ProgramError(`${[file, ...args].join(' ')} ${how}: ${stderr.trim() || 'no output'}`, code, signal, stdout, stderr));
    });
  });
}
