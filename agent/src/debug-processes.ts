// Processes in the guest itself, outside every container: what the
// operator's `vmpod debug <pod>` runs (DebugExec). Kata's debug console does
// the same from its agent. They run as the agent does (root, the guest's own
// namespaces, mounts and cgroup), spawned directly, without crun, and reuse
// GuestProcess for their stdio, terminal, output buffers and exit wait, so
// the host drives them with the same calls as a container's exec
// (container_id "").
//
// Off unless the host said so in CreateSandbox (debug_processes), which it
// does only when `[debug] guest_shell` is on: the guest is hostile and could
// run anything anyway, so this gate is not a defence against the guest; it
// makes the host's configuration at pod start the one thing that decides
// whether a pod's guest ever runs an operator's shell, whatever a later
// daemon (or a daemon bug) asks.
//
// Each process leads a session of its own (busybox `setsid`, with `-c` its
// pty becomes the controlling terminal, so ^C and job control work in an
// interactive shell). When the leader ends, or the host kills it (the
// operator's client went away), every process still in that session is
// killed too: a debug shell leaves nothing behind in the guest. A process
// that makes a session of its own (setsid, a daemon) leaves it, and
// survives on purpose.

import { readdir, readFile } from 'node:fs/promises';
import { FailedPreconditionError, InvalidArgumentError, NotFoundError, ResourceExhaustedError } from '../../common/errors';
import type { DebugExecRequest } from '../../common/generated/agent/agent';
import type { WindowSize } from '../../common/native/pty';
import { checkId, type WaitResult } from './container-manager';
import type { ReadResult } from './output-buffer';
import { GuestProcess } from './process';
import type { System } from './system';

/** Debug processes at once, running or finished and not yet collected. */
export const MAX_DEBUG_PROCESSES = 16;
export const MAX_DEBUG_ARGS = 256;
export const MAX_DEBUG_ARG_BYTES = 4096;
export const MAX_DEBUG_ENV = 64;
/** A finished process the host never collected is forgotten after this long (as an exec is). */
export const FINISHED_DEBUG_TTL_MS = 60_000;
const DEFAULT_ENV = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/root' };
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export interface DebugPaths {
  /** busybox, for `setsid [-c]`. */
  busybox: string;
  /** /proc, to find what is left in a session. */
  proc: string;
}

/** A checked DebugExec request: argv, environment and terminal. Pure; throws InvalidArgumentError naming the field. */
export function checkDebugExec(req: DebugExecRequest): { args: string[]; env: Record<string, string>; terminal: WindowSize | null | undefined } {
  checkId('exec_id', req.exec_id);
  if (req.args.length === 0) throw new InvalidArgumentError('args', 'is empty: name the program to run');
  if (req.args.length > MAX_DEBUG_ARGS) throw new InvalidArgumentError('args', `more than ${MAX_DEBUG_ARGS} entries`);
  for (const [i, a] of req.args.entries()) {
    if (Buffer.byteLength(a) > MAX_DEBUG_ARG_BYTES) throw new InvalidArgumentError(`args[${i}]`, `longer than ${MAX_DEBUG_ARG_BYTES} bytes`);
    if (a.includes('\0')) throw new InvalidArgumentError(`args[${i}]`, 'holds a NUL byte');
  }
  // busybox setsid takes its own options first: a program named "-c" would be one of them.
  if (req.args[0] === '' || req.args[0].startsWith('-')) throw new InvalidArgumentError('args[0]', `"${req.args[0].slice(0, 64)}" is not a program name`);
  if (req.env.length > MAX_DEBUG_ENV) throw new InvalidArgumentError('env', `more than ${MAX_DEBUG_ENV} entries`);
  const env: Record<string, string> = { ...DEFAULT_ENV };
  for (const [i, kv] of req.env.entries()) {
    const eq = kv.indexOf('=');
    const name = eq > 0 ? kv.slice(0, eq) : '';
    if (!ENV_NAME.test(name) || Buffer.byteLength(kv) > MAX_DEBUG_ARG_BYTES || kv.includes('\0')) {
      throw new InvalidArgumentError(`env[${i}]`, 'is not NAME=value (a shell variable name, at most 4096 bytes, no NUL)');
    }
    env[name] = kv.slice(eq + 1);
  }
  const ok = (n: number): boolean => Number.isInteger(n) && n >= 0 && n <= 0xffff;
  if (!ok(req.rows) || !ok(req.cols)) throw new InvalidArgumentError('rows/cols', `${req.rows}x${req.cols} does not fit a terminal (0..65535 each)`);
  const terminal = req.terminal ? (req.rows > 0 && req.cols > 0 ? { rows: req.rows, cols: req.cols } : null) : undefined;
  return { args: [...req.args], env, terminal };
}

/** The session id in the text of /proc/<pid>/stat (the 6th field; the command name before it may hold spaces and parentheses). */
export function sessionOf(stat: string): number | undefined {
  const close = stat.lastIndexOf(')');
  if (close < 0) return undefined;
  const sid = Number(stat.slice(close + 2).split(' ')[3]);
  return Number.isInteger(sid) ? sid : undefined;
}

export class DebugProcesses {
  private enabled = false;
  private readonly procs = new Map<string, GuestProcess>();

  constructor(
    private readonly sys: System,
    private readonly paths: DebugPaths,
  ) {}

  /** CreateSandbox's debug_processes. */
  enable(on: boolean): void {
    this.enabled = on;
  }

  async start(req: DebugExecRequest): Promise<number> {
    if (!this.enabled) {
      throw new FailedPreconditionError(
        'this guest does not run debug processes: the pod was started while [debug] guest_shell was off on the host (the setting in force when a pod starts holds for its life; recreate the pod to debug it)',
      );
    }
    const { args, env, terminal } = checkDebugExec(req);
    if (this.procs.has(req.exec_id)) throw new FailedPreconditionError(`debug process ${req.exec_id} exists already`);
    this.makeRoom();
    const execId = req.exec_id;
    const p: GuestProcess = new GuestProcess({
      stdin: req.stdin,
      terminal,
      label: `guest/${execId}`,
      // What the leader left in its session goes with it (and its output can then end).
      leaderExited: () => void this.killSession(p.pid),
      exited: async () => {
        setTimeout(() => this.forget(execId, p), FINISHED_DEBUG_TTL_MS).unref();
        return false;
      },
    });
    // setsid execs the program in place: its pid is the process's (and the session's id).
    p.start(this.sys, this.paths.busybox, ['setsid', ...(terminal !== undefined ? ['-c'] : []), ...args], { env, cwd: '/' });
    this.procs.set(execId, p);
    return p.pid;
  }

  async signal(_id: string, execId: string, signal: number): Promise<void> {
    if (!Number.isInteger(signal) || signal < 1 || signal > 64) throw new InvalidArgumentError('signal', `${signal} is not a signal number`);
    const p = this.get(execId);
    p.kill(signal);
    // The client went away: nothing of its session may stay (the leader's exit sweeps it again).
    if (signal === 9) await this.killSession(p.pid);
  }

  async wait(_id: string, execId: string, waitMs: number, signal?: AbortSignal): Promise<WaitResult> {
    const p = this.get(execId);
    const exit = await p.wait(waitMs, signal);
    if (p.collected) this.forget(execId, p);
    return { exit, started: true };
  }

  writeStdin(_id: string, execId: string, data: Uint8Array): Promise<number> {
    return this.get(execId).writeStdin(data);
  }

  closeStdin(_id: string, execId: string): void {
    this.get(execId).closeStdin();
  }

  resizeTerminal(_id: string, execId: string, size: WindowSize): void {
    this.get(execId).resize(size);
  }

  async read(_id: string, execId: string, stream: 'stdout' | 'stderr', maxBytes: number, waitMs: number, signal?: AbortSignal): Promise<ReadResult> {
    const p = this.get(execId);
    const r = await p.read(stream, maxBytes, waitMs, signal);
    if (p.collected) this.forget(execId, p);
    return r;
  }

  /** How many records are held (tests; the bound is MAX_DEBUG_PROCESSES). */
  get count(): number {
    return this.procs.size;
  }

  private get(execId: string): GuestProcess {
    const p = this.procs.get(execId);
    if (!p) throw new NotFoundError('debug process', execId);
    return p;
  }

  private forget(execId: string, p: GuestProcess): void {
    if (this.procs.get(execId) !== p) return;
    p.close();
    this.procs.delete(execId);
  }

  private makeRoom(): void {
    if (this.procs.size < MAX_DEBUG_PROCESSES) return;
    for (const [id, p] of this.procs) {
      if (p.exit) return this.forget(id, p);
    }
    throw new ResourceExhaustedError(`the guest already runs ${MAX_DEBUG_PROCESSES} debug processes; end one first`);
  }

  /**
   * SIGKILL to every process whose session is `sid`. The kernel does not
   * hand out a pid that is still a live process's session id, so nothing
   * outside the session can match.
   */
  private async killSession(sid: number): Promise<void> {
    if (sid <= 1) return;
    const pids = (await readdir(this.paths.proc).catch(() => [] as string[])).filter((n) => /^\d+$/.test(n));
    await Promise.all(
      pids.map(async (pid) => {
        const stat = await readFile(`${this.paths.proc}/${pid}/stat`, 'utf8').catch(() => '');
        if (sessionOf(stat) !== sid) return;
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // gone meanwhile
        }
      }),
    );
  }
}
