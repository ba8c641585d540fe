// Running the external tools the network module relies on (ip, tc, unshare,
// nsenter, CNI plugins). Node has no setns(2), so "inside a namespace" always
// means "spawn through nsenter".

import { spawnChild } from '../../common/native/spawn';
import { DeadlineExceededError, InternalError } from '../../common/errors';

export interface RunOptions {
  /** Bytes written to stdin, then stdin is closed. */
  input?: string;
  /** The environment; undefined: the daemon's own (passed as it is, not listed per run). */
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  /** Network namespace (a pinned path) to run the command in; undefined = the daemon's own. */
  netns?: string;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

const DEFAULT_TIMEOUT_MS = 30_000;

/** argv prefixed so that it runs in `netns` (nothing when netns is undefined). */
export function inNetns(netns: string | undefined, argv: string[]): string[] {
  return netns ? ['nsenter', `--net=${netns}`, '--', ...argv] : argv;
}

/**
 * Run argv and collect its output. Resolves with the exit code (non-zero
 * included: callers decide what a failure means); rejects only when the
 * program cannot be started or outlives its timeout, in which case it is
 * killed.
 */
export function run(argv: string[], opts: RunOptions = {}): Promise<RunResult> {
  const full = inNetns(opts.netns, argv);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const child = spawnChild(full[0], full.slice(1), { env: opts.env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout!.on('data', (b: Buffer) => out.push(b));
    child.stderr!.on('data', (b: Buffer) => err.push(b));
    // A program that exits without reading stdin makes the write fail with EPIPE; its exit code tells the story.
    child.stdin!.on('error', () => undefined);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new InternalError(`cannot run ${full[0]}: ${e.message}`, { cause: e }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (timedOut) {
        reject(new DeadlineExceededError(`${argv[0]} did not finish within ${timeoutMs} ms and was killed`));
        return;
      }
      resolve({
        code: code ?? (signal ? 128 : 1),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
    child.stdin!.end(opts.input ?? '');
  });
}

/** Like run, but a non-zero exit is an InternalError naming `what` and the tool's stderr. */
export async function runOk(what: string, argv: string[], opts: RunOptions = {}): Promise<string> {
  const r = await run(argv, opts);
  if (r.code !== 0) {
    throw new InternalError(`${what}: ${argv.join(' ')} exited with ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`);
  }
  return r.stdout;
}

/** One argument single-quoted for sh (anything inside stays one literal word). Pure. */
export function shQuote(a: string): string {
  return `'${a.replace(/'/g, "'\\''")}'`;
}

/** One command of a script that runSteps runs in one shell; `what` names it in an error. */
export interface ScriptStep {
  what: string;
  argv: readonly string[];
}

/**
 * `steps` as one sh script, a line each: the first that fails ends the
 * script with its step number (1-based) as the exit code, so the caller
 * names the step without reading the tool's words. Pure.
 */
export function stepScript(steps: readonly ScriptStep[]): string {
  if (steps.length > 100) throw new InternalError(`a script of ${steps.length} steps: exit codes name at most 100`);
  return steps.map((s, i) => `${s.argv.map(shQuote).join(' ')} || exit ${i + 1}`).join('\n') + '\n';
}

/**
 * Run `steps` one after the other in one shell (in `opts.netns`): one
 * spawn (and one nsenter) where each command was one. Stops at the first
 * that fails, with an InternalError naming `what`, that step and its stderr.
 * Resolves with the steps' stdout.
 */
export async function runSteps(what: string, steps: readonly ScriptStep[], opts: Omit<RunOptions, 'input'> = {}): Promise<string> {
  if (steps.length === 0) return '';
  const r = await run(['sh', '-s'], { ...opts, input: stepScript(steps) });
  if (r.code === 0) return r.stdout;
  const failed = steps[r.code - 1];
  const tool = r.stderr.trim() || r.stdout.trim();
  if (failed) throw new InternalError(`${what}: ${failed.what}: ${failed.argv.join(' ')} failed: ${tool}`);
  throw new InternalError(`${what}: sh exited with ${r.code}: ${tool}`);
}
