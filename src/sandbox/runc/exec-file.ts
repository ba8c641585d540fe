// Runs a helper binary (runc) and returns its output; a non-zero exit becomes
// an error that names the command and carries runc's own message.

import { spawnChild } from '../../../common/native/spawn';
import { DeadlineExceededError, InternalError, UnavailableError } from '../../../common/errors';

export interface RunResult {
  stdout: string;
  stderr: string;
  code: number;
}

export class CommandFailedError extends InternalError {
  constructor(
    readonly argv: string[],
    readonly result: RunResult,
  ) {
    super(`${argv.join(' ')} exited ${result.code}: ${lastLine(result.stderr) || lastLine(result.stdout) || 'no output'}`);
  }
}

function lastLine(s: string): string {
  const lines = s.trim().split('\n').filter(Boolean);
  // runc logs JSON/logfmt lines; the last one holds the reason.
  const line = lines[lines.length - 1] ?? '';
  const m = /msg="((?:[^"\\]|\\.)*)"/.exec(line);
  return m ? m[1].replace(/\\"/g, '"') : line;
}

export interface RunOptions {
  timeoutMs?: number;
  input?: string;
  /** Do not throw on a non-zero exit; return it. */
  allowFailure?: boolean;
  maxOutput?: number;
}

export function run(binary: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const argv = [binary, ...args];
  const max = opts.maxOutput ?? 4 * 1024 * 1024;
  return new Promise((resolve, reject) => {
    const child = spawnChild(binary, args, { stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outLen = 0;
    let errLen = 0;
    child.stdout!.on('data', (b: Buffer) => {
      if (outLen < max) out.push(b);
      outLen += b.length;
    });
    child.stderr!.on('data', (b: Buffer) => {
      if (errLen < max) err.push(b);
      errLen += b.length;
    });
    let timedOut = false;
    const timer = opts.timeoutMs
      ? setTimeout(() => {
          timedOut = true;
          child.kill('SIGKILL');
        }, opts.timeoutMs)
      : undefined;
    child.on('error', (e: NodeJS.ErrnoException) => {
      if (timer) clearTimeout(timer);
      reject(e.code === 'ENOENT' ? new UnavailableError(`${binary} is not installed (apt-get install ${binary})`) : e);
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      const result = { stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), code: code ?? 128 + (signal ? 9 : 0) };
      if (timedOut) return reject(new DeadlineExceededError(`${argv.join(' ')} did not finish within ${opts.timeoutMs} ms`));
      if (result.code !== 0 && !opts.allowFailure) return reject(new CommandFailedError(argv, result));
      resolve(result);
    });
    if (opts.input !== undefined) child.stdin!.end(opts.input);
  });
}
