// ExecSync and Exec in a VM-image pod, through the guest's qemu-guest-agent
// (guest-agent.ts): `guest-exec` starts the process and returns its guest
// pid, `guest-exec-status` is polled (50 ms, doubling to 500 ms) until the
// process has exited, and then carries its exit code and all its output at
// once, base64. What QGA gives decides what this can do:
//
// * cmd[0] is looked up in PATH when it has no `/`: QGA spawns with
//   G_SPAWN_SEARCH_PATH and no environment of ours, so the process inherits
//   the agent's (under systemd: PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin;
//   no HOME, no TERM) and runs as the agent's user, root, outside any container.
// * No terminal, no interaction: stdin is given whole at the start
//   (`input-data`), output comes whole at the end. Exec with a tty is
//   refused; without one, stdin is read to its EOF first (capped).
// * QGA keeps at most 16 MiB of each stream (it says when it cut one); that
//   is also kubelet's cap (EXEC_OUTPUT_CAP). A cut stream ends with a marker.
// * QGA has no command to kill a process it started. On a timeout (or a
//   streaming client going away) vmpod asks the guest, through guest-exec
//   again, to run `/bin/sh -c 'kill -KILL <pid>'`: best effort (a guest
//   without /bin/sh, or children of the process that hold its output open,
//   run on), and the error says so.

import { Readable, Writable } from 'node:stream';
import { setTimeout as sleepAbortable } from 'node:timers/promises';
import { DeadlineExceededError, FailedPreconditionError, InvalidArgumentError, ResourceExhaustedError, UnavailableError } from '../../../common/errors';
import type { Logger } from '../../log';
import { EXEC_OUTPUT_CAP, type ExecResult, type ProcessIO, type StreamOptions } from '../controller';
import { EXEC_RESPONSE_BUDGET, ExecStreamCollector, fitExecOutput } from '../exec-output';
import { GuestAgent, QgaCommandError } from './guest-agent';

/** The most stdin a streaming exec takes (it is sent in one guest-exec request, base64). */
export const EXEC_STDIN_CAP = 16 * 1024 * 1024;
const POLL_FIRST_MS = 50;
const POLL_MAX_MS = 500;
/** How long the status of a killed process is polled (to report it and let QGA forget it). */
const KILL_WAIT_MS = 2_000;

/** Ends a stream QGA itself cut. */
export const QGA_TRUNCATED_MARKER = '\n[vmpod: output truncated by qemu-guest-agent, which keeps only the first 16 MiB of each stream]\n';

/** guest-exec-status's answer, checked. */
export interface QgaExecStatus {
  exited: boolean;
  exitCode?: number;
  signal?: number;
  out: Buffer;
  err: Buffer;
  outTruncated: boolean;
  errTruncated: boolean;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function bad(what: string): UnavailableError {
  return new UnavailableError(`qemu-guest-agent sent a malformed answer: ${what}`);
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Strict base64 (Buffer.from accepts anything). Pure. */
export function decodeBase64(s: unknown, field: string): Buffer {
  if (typeof s !== 'string' || s.length % 4 !== 0 || !BASE64.test(s)) throw bad(`${field} is not base64`);
  return Buffer.from(s, 'base64');
}

function optInt(v: Record<string, unknown>, key: string, min: number, max: number): number | undefined {
  const x = v[key];
  if (x === undefined) return undefined;
  if (typeof x !== 'number' || !Number.isInteger(x) || x < min || x > max) throw bad(`${key} is not an integer in ${min}..${max}`);
  return x;
}

function optBool(v: Record<string, unknown>, key: string): boolean {
  const x = v[key];
  if (x === undefined) return false;
  if (typeof x !== 'boolean') throw bad(`${key} is not a boolean`);
  return x;
}

/** guest-exec's answer: the guest pid. Pure. */
export function parseExecPid(v: unknown): number {
  if (!isObject(v)) throw bad('guest-exec did not return an object');
  const pid = optInt(v, 'pid', 1, 2 ** 31 - 1);
  if (pid === undefined) throw bad('guest-exec returned no pid');
  return pid;
}

/** guest-exec-status's answer, every field checked. Pure. */
export function parseExecStatus(v: unknown): QgaExecStatus {
  if (!isObject(v)) throw bad('guest-exec-status did not return an object');
  if (typeof v.exited !== 'boolean') throw bad('exited is not a boolean');
  const st: QgaExecStatus = {
    exited: v.exited,
    exitCode: optInt(v, 'exitcode', -(2 ** 31), 2 ** 32),
    signal: optInt(v, 'signal', 0, 255),
    out: v['out-data'] === undefined ? Buffer.alloc(0) : decodeBase64(v['out-data'], 'out-data'),
    err: v['err-data'] === undefined ? Buffer.alloc(0) : decodeBase64(v['err-data'], 'err-data'),
    outTruncated: optBool(v, 'out-truncated'),
    errTruncated: optBool(v, 'err-truncated'),
  };
  if (st.exited && st.exitCode === undefined && st.signal === undefined) throw bad('an exited process has neither exitcode nor signal');
  return st;
}

/** The exit code CRI reports: the process's own, or 128 + the signal that ended it (as a shell does). Pure. */
export function exitCodeOf(st: QgaExecStatus): number {
  return st.exitCode ?? 128 + (st.signal ?? 0);
}

/** How a command reads in messages: its argv, shortened. Pure. */
export function describeCmd(cmd: readonly string[]): string {
  const s = JSON.stringify(cmd);
  return s.length > 200 ? `${s.slice(0, 200)}...` : s;
}

function checkCmd(cmd: readonly string[]): void {
  if (cmd.length === 0 || cmd[0] === '') throw new InvalidArgumentError('cmd', 'is empty');
}

/**
 * The agent to use and what to do when done with it: a pod's shared
 * GuestAgent stays open; for a socket path, a connection of this call alone.
 */
function useAgent(target: GuestAgent | string, log: Logger): { agent: GuestAgent; release: () => void } {
  if (typeof target !== 'string') return { agent: target, release: () => undefined };
  const agent = new GuestAgent({ socketPath: target, log });
  return { agent, release: () => agent.close() };
}

/** guest-exec: the guest pid. A command the agent refuses to run is named in the error. */
async function startExec(agent: GuestAgent, cmd: readonly string[], input: Buffer | undefined): Promise<number> {
  const args: Record<string, unknown> = { path: cmd[0], arg: cmd.slice(1), 'capture-output': true };
  if (input && input.length > 0) args['input-data'] = input.toString('base64');
  try {
    return await agent.call('guest-exec', args, parseExecPid);
  } catch (err) {
    if (err instanceof QgaCommandError && (err.errorClass === 'CommandNotFound' || err.errorClass === 'CommandDisabled')) {
      throw new FailedPreconditionError(`${agent.name}: the guest's qemu-guest-agent does not allow guest-exec (${err.errorClass}: its configuration blocks it, e.g. --block-rpcs or allow-rpcs)`, {
        cause: err,
      });
    }
    if (err instanceof QgaCommandError) throw new FailedPreconditionError(`${agent.name}: cannot run ${describeCmd(cmd)} in the guest: ${err.desc}`, { cause: err });
    throw err;
  }
}

async function execStatus(agent: GuestAgent, pid: number): Promise<QgaExecStatus> {
  return agent.call('guest-exec-status', { pid }, parseExecStatus);
}

/** Polls until the process has exited: its status, or 'timeout' at `deadline` (ms since the epoch; 0: none). Rejects AbortError on `signal`. */
async function waitExit(agent: GuestAgent, pid: number, deadline: number, signal?: AbortSignal): Promise<QgaExecStatus | 'timeout'> {
  let delay = POLL_FIRST_MS;
  for (;;) {
    const st = await execStatus(agent, pid);
    if (st.exited) return st;
    let wait = delay;
    if (deadline > 0) {
      const left = deadline - Date.now();
      if (left <= 0) return 'timeout';
      wait = Math.min(wait, left);
    }
    await sleepAbortable(wait, undefined, { signal });
    delay = Math.min(delay * 2, POLL_MAX_MS);
  }
}

/**
 * Best effort (QGA cannot kill what it started): the guest's own `kill`
 * through guest-exec, then a short wait for the process's end so that QGA
 * forgets it. Says what happened, for the error message; never rejects.
 */
async function killExec(agent: GuestAgent, pid: number): Promise<string> {
  try {
    const killer = await startExec(agent, ['/bin/sh', '-c', `kill -KILL ${pid}`], undefined);
    const deadline = Date.now() + KILL_WAIT_MS;
    // Collected too, or QGA keeps the kill's own entry for ever.
    void waitExit(agent, killer, deadline).catch(() => undefined);
    const st = await waitExit(agent, pid, deadline);
    return st === 'timeout'
      ? `vmpod asked the guest to kill it (kill -KILL ${pid} through qemu-guest-agent, which has no kill of its own) but it had not ended ${KILL_WAIT_MS / 1000} s later (a child holding its output open keeps it from ending)`
      : `vmpod killed it (kill -KILL ${pid} run through qemu-guest-agent, which has no kill of its own)`;
  } catch (err) {
    return `qemu-guest-agent cannot kill a process it started, and running kill -KILL ${pid} in the guest failed (${(err as Error).message}): it may run on`;
  }
}

/** One stream of output as CRI gets it: capped, with QGA's own cut marked. */
function collected(data: Buffer, truncatedByQga: boolean): { data: Buffer; dropped: number } {
  const c = new ExecStreamCollector(EXEC_OUTPUT_CAP - (truncatedByQga ? Buffer.byteLength(QGA_TRUNCATED_MARKER) : 0));
  c.push(data);
  return c.collected();
}

/** stdout and stderr of an exited process, fitted to one ExecSync answer (exec-output.ts), QGA's cut marked. Pure. */
export function execOutput(st: QgaExecStatus): { stdout: Buffer; stderr: Buffer } {
  const marker = Buffer.from(QGA_TRUNCATED_MARKER);
  const room = EXEC_RESPONSE_BUDGET - (st.outTruncated ? marker.length : 0) - (st.errTruncated ? marker.length : 0);
  const fit = fitExecOutput(collected(st.out, st.outTruncated), collected(st.err, st.errTruncated), room);
  return {
    stdout: st.outTruncated ? Buffer.concat([fit.stdout, marker]) : fit.stdout,
    stderr: st.errTruncated ? Buffer.concat([fit.stderr, marker]) : fit.stderr,
  };
}

/**
 * ExecSync through qemu-guest-agent. `timeoutS` 0: none; past it,
 * DeadlineExceededError naming the command and saying what became of the
 * process (see killExec).
 */
export async function guestExecSync(target: GuestAgent | string, cmd: string[], timeoutS: number, log: Logger): Promise<ExecResult> {
  checkCmd(cmd);
  const { agent, release } = useAgent(target, log);
  try {
    const deadline = timeoutS > 0 ? Date.now() + timeoutS * 1000 : 0;
    const pid = await startExec(agent, cmd, undefined);
    log.debug({ pid, cmd }, 'guest-exec started');
    const st = await waitExit(agent, pid, deadline);
    if (st === 'timeout') {
      const fate = await killExec(agent, pid);
      throw new DeadlineExceededError(`exec of ${describeCmd(cmd)} in ${agent.name} did not finish within ${timeoutS} s; ${fate}`);
    }
    return { ...execOutput(st), exitCode: exitCodeOf(st) };
  } finally {
    release();
  }
}

/**
 * stdin as a Writable that keeps what it is given, up to EXEC_STDIN_CAP;
 * `input` settles at its end (the bytes), or rejects when it overflows or
 * is destroyed first.
 */
function stdinCollector(what: string): { stdin: Writable; input: Promise<Buffer> } {
  const chunks: Buffer[] = [];
  let size = 0;
  let settle!: { resolve: (b: Buffer) => void; reject: (e: Error) => void };
  const input = new Promise<Buffer>((resolve, reject) => (settle = { resolve, reject }));
  input.catch(() => undefined);
  const stdin = new Writable({
    highWaterMark: 64 << 10,
    write(chunk: Buffer, _enc, cb) {
      if (size + chunk.length > EXEC_STDIN_CAP) {
        const err = new ResourceExhaustedError(`${what}: stdin is over ${EXEC_STDIN_CAP} bytes; qemu-guest-agent takes stdin whole, in one request`);
        settle.reject(err);
        cb(err);
        return;
      }
      chunks.push(chunk);
      size += chunk.length;
      cb();
    },
    final(cb) {
      settle.resolve(Buffer.concat(chunks, size));
      cb();
    },
    destroy(err, cb) {
      settle.reject(err ?? new UnavailableError(`${what}: stdin was closed before its end`));
      cb(err);
    },
  });
  // The consumer may not listen; the failure is in `done`.
  stdin.on('error', () => undefined);
  return { stdin, input };
}

/**
 * Exec (kubectl exec) through qemu-guest-agent, without a terminal: stdin
 * (if asked) is read to its EOF, then the command runs, then its output and
 * exit code are delivered. The output is in memory already when it is
 * handed to the streams (QGA sends it whole, at most 16 MiB per stream), so
 * a slow client costs the daemon that much and no more.
 */
export async function guestExec(target: GuestAgent | string, cmd: string[], opts: StreamOptions, log: Logger): Promise<ProcessIO> {
  checkCmd(cmd);
  if (opts.tty) {
    throw new FailedPreconditionError(
      "exec with a terminal (-t) is not available in a VM-image pod: commands run through the guest's qemu-guest-agent, which has no terminal; run the command without -t, or use `crictl attach -it` (kubectl attach -it) for the serial console",
    );
  }
  const { agent, release } = useAgent(target, log);
  try {
    await agent.ready();
  } catch (err) {
    release();
    throw err;
  }
  const what = `exec of ${describeCmd(cmd)} in ${agent.name}`;
  const abort = new AbortController();
  const out = opts.stdout ? new Readable({ read: () => undefined }) : undefined;
  const errOut = opts.stderr ? new Readable({ read: () => undefined }) : undefined;
  const collector = opts.stdin ? stdinCollector(what) : undefined;
  let pid: number | undefined;
  let exited = false;
  let closed = false;
  let killing: Promise<unknown> = Promise.resolve();
  const closedError = (): Error => new UnavailableError(`${what}: the session was closed`);
  const aborted = new Promise<never>((_, reject) => abort.signal.addEventListener('abort', () => reject(closedError()), { once: true }));
  aborted.catch(() => undefined);

  const done = (async () => {
    const input = collector ? await Promise.race([collector.input, aborted]) : undefined;
    if (abort.signal.aborted) throw closedError();
    pid = await startExec(agent, cmd, input);
    log.debug({ pid, cmd }, 'guest-exec started');
    let st: QgaExecStatus | 'timeout';
    try {
      st = await waitExit(agent, pid, 0, abort.signal);
    } catch (err) {
      if (abort.signal.aborted) throw closedError();
      throw err;
    }
    if (st === 'timeout') throw new DeadlineExceededError(`${what}: timed out`); // no deadline: never
    exited = true;
    const fit = execOutput(st);
    if (out && !out.destroyed) {
      if (fit.stdout.length > 0) out.push(fit.stdout);
      out.push(null);
    }
    if (errOut && !errOut.destroyed) {
      if (fit.stderr.length > 0) errOut.push(fit.stderr);
      errOut.push(null);
    }
    return { exitCode: exitCodeOf(st) };
  })();
  done.catch(() => undefined); // the consumer may never look at it

  const close = (): void => {
    if (closed) return;
    closed = true;
    // The client went away: the process goes too, as far as QGA lets it (killExec).
    if (pid !== undefined && !exited) killing = killExec(agent, pid).then((fate) => log.info({ pid }, `${what}: the client went away; ${fate}`));
    abort.abort();
    collector?.stdin.destroy();
    if (!exited) {
      out?.destroy();
      errOut?.destroy();
    }
  };
  // A session that failed lets go of its streams; the agent (if this call's own) once nothing uses it.
  void done.then(
    () => undefined,
    () => close(),
  );
  void done
    .catch(() => undefined)
    .then(() => killing)
    .then(release);

  return {
    stdin: collector?.stdin,
    stdout: out,
    stderr: errOut,
    resize: async () => {
      throw new FailedPreconditionError(`${what}: resize asked of a session without a terminal`);
    },
    done,
    close,
  };
}
