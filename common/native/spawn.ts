// Starting a program without forking this process, for the daemon (runc,
// conmon, CNI plugins) and the guest agent (crun) alike. Node's
// child_process forks the whole process and waits for the child's exec:
// copying the page tables of a 100+ MiB daemon blocks the event loop for
// 8-18 ms per spawn here, and one fork of the ~50 MiB agent costs ~15-30 ms
// of guest time under TCG (bench/vm-exec, docs/performance.md). posix_spawn
// (native/vsock/spawn.cc, vfork-like) costs a fraction of that whatever the
// process's size.
//
// The child looks like a ChildProcess to its callers (the parts they use):
// stdio pipes as net.Sockets, 'exit' when it ends (learned from a pidfd on
// the event loop, then reaped with waitpid), 'close' once its output pipes
// have closed as well, 'error' when it cannot be started (ENOENT, EACCES).
// Without the addon, or with one built before spawn, Node's spawn is used.

import { spawn as nodeSpawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { accessSync, constants as fsConstants } from 'node:fs';
import { Socket } from 'node:net';
import { constants as osConstants } from 'node:os';
import { delimiter, join } from 'node:path';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { AddonUnavailableError, loadAddon, type NativeAddon, type NativeHandle } from './addon';
import { SyscallError } from './errno';

/**
 * What the child's fd i is: a pipe to this process ('pipe'), /dev/null
 * ('ignore'), or a copy of this process's fd of that number (a pty's slave
 * for a process on a terminal), which stays the caller's to close.
 */
export type StdioMode = 'ignore' | 'pipe' | number;

export interface SpawnOptions {
  /** fd i of the child. Default: three 'ignore'. */
  stdio?: StdioMode[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Its own session (setsid), as child_process's `detached`. */
  detached?: boolean;
}

/** What callers use of a ChildProcess; both a native child and Node's satisfy it. */
export interface Child {
  readonly pid?: number;
  /** stdio[i]: this process's end of the child's fd i, when it is a pipe. */
  readonly stdio: readonly (Readable | Writable | null | undefined)[];
  readonly stdin: Writable | null;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  kill(signal?: NodeJS.Signals | number): boolean;
  unref(): void;
  on(event: 'exit' | 'close', listener: (code: number | null, signal: NodeJS.Signals | null) => void): this;
  on(event: 'error', listener: (err: NodeJS.ErrnoException) => void): this;
  once(event: 'exit' | 'close', listener: (code: number | null, signal: NodeJS.Signals | null) => void): this;
}

const READABLE = 1; // UV_READABLE
const signalNames = new Map<number, NodeJS.Signals>(Object.entries(osConstants.signals).map(([name, n]) => [n, name as NodeJS.Signals]));

/** Starts `file` (a path, or a name looked up in the env's PATH) with `args`. */
export function spawnChild(file: string, args: readonly string[], opts: SpawnOptions = {}): Child {
  // A caller's mistake, thrown at once as Node's spawn does; a closed fd is an EBADF 'error' from the spawn itself.
  for (const m of opts.stdio ?? []) if (typeof m === 'number' && !(Number.isInteger(m) && m >= 0)) throw new TypeError(`spawn ${file}: stdio fd ${m} is not a file descriptor`);
  const addon = nativeSpawner();
  if (!addon) {
    return nodeSpawn(file, [...args], { stdio: opts.stdio ?? 'ignore', env: opts.env, cwd: opts.cwd, detached: opts.detached });
  }
  return new NativeChild(addon, file, args, opts);
}

/** Whether spawnChild starts programs without forking this process (the addon has spawn). */
export function spawnsWithoutFork(): boolean {
  return nativeSpawner() !== null;
}

/**
 * The addon when it has spawn, else null. Asked at each spawn (the addon's
 * load is cached; the check is a property read): no state of its own here.
 * Where pidfd_open is refused the exit is polled (NativeChild.watchExit).
 */
function nativeSpawner(): NativeAddon | null {
  try {
    const addon = loadAddon();
    return typeof addon.spawn === 'function' ? addon : null;
  } catch (err) {
    if (err instanceof AddonUnavailableError) return null;
    throw err;
  }
}

/**
 * `file` as an absolute path: as given when it has a slash, else the first
 * executable of that name on `path` (a few access(2) calls, far below the
 * spawn's own cost, and never stale).
 */
export function resolveExecutable(file: string, path: string | undefined): string | null {
  if (file.includes('/')) return file;
  for (const dir of (path ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, file);
    try {
      accessSync(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

/** The env as "KEY=value" strings, without unset keys. Pure. */
export function envStrings(env: NodeJS.ProcessEnv): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out.push(`${k}=${v}`);
  return out;
}

class NativeChild extends EventEmitter implements Child {
  pid?: number;
  readonly stdio: (Readable | Writable | null)[] = [];
  stdin: Writable | null = null;
  stdout: Readable | null = null;
  stderr: Readable | null = null;
  private watch: NativeHandle | null = null;
  private poller: NodeJS.Timeout | undefined;
  private referenced = true;
  private exited = false;
  private closesNeeded = 1; // the exit itself, plus each readable pipe
  private exitArgs: [number | null, NodeJS.Signals | null] = [null, null];

  constructor(
    private readonly addon: NativeAddon,
    file: string,
    args: readonly string[],
    opts: SpawnOptions,
  ) {
    super();
    const env = opts.env ?? process.env;
    const modes = opts.stdio ?? ['ignore', 'ignore', 'ignore'];
    const path = resolveExecutable(file, env.PATH);
    if (!path) {
      this.failLater(-osConstants.errno.ENOENT, file, modes);
      return;
    }
    const childFds: number[] = [];
    // The child's ends of the pipes made here, closed once it has its copies (a given fd is the caller's).
    const pipeEnds: number[] = [];
    const parentFds: (number | null)[] = [];
    for (const [i, mode] of modes.entries()) {
      if (mode !== 'pipe') {
        childFds.push(mode === 'ignore' ? -1 : mode);
        parentFds.push(null);
        continue;
      }
      const p = this.addon.pipe();
      if (typeof p === 'number') {
        this.closeAll(pipeEnds, parentFds);
        this.failLater(p, file, modes);
        return;
      }
      // fd 0 is written by this process; every other pipe is read by it.
      const [r, w] = p;
      childFds.push(i === 0 ? r : w);
      pipeEnds.push(i === 0 ? r : w);
      parentFds.push(i === 0 ? w : r);
    }
    const pid = this.addon.spawn(path, [file, ...args], opts.env ? envStrings(opts.env) : null, opts.cwd ?? null, childFds, !!opts.detached);
    for (const fd of pipeEnds) this.addon.closeFd(fd);
    if (pid < 0) {
      this.closeAll([], parentFds);
      this.failLater(pid, file, modes);
      return;
    }
    this.pid = pid;
    parentFds.forEach((fd, i) => {
      if (fd === null) {
        this.stdio.push(null);
        return;
      }
      const s = new Socket({ fd, readable: i !== 0, writable: i === 0 });
      if (i !== 0) {
        this.closesNeeded++;
        s.on('close', () => this.closed());
      }
      this.stdio.push(s);
    });
    this.named();
    this.watchExit(pid);
  }

  private named(): void {
    this.stdin = (this.stdio[0] as Writable | null) ?? null;
    this.stdout = (this.stdio[1] as Readable | null) ?? null;
    this.stderr = (this.stdio[2] as Readable | null) ?? null;
  }

  kill(signal: NodeJS.Signals | number = 'SIGTERM'): boolean {
    // Until it is reaped the PID is this child's (a zombie holds it), so the signal cannot reach another process.
    if (this.pid === undefined || this.exited) return false;
    try {
      process.kill(this.pid, signal);
      return true;
    } catch {
      return false;
    }
  }

  unref(): void {
    this.referenced = false;
    this.watch?.setRef(false);
    this.poller?.unref();
  }

  private watchExit(pid: number): void {
    const fd = this.addon.pidfdOpen(pid);
    // It cannot have been reaped yet, so a refusal is the kernel's (no pidfd_open before Linux 5.3, out of fds).
    if (fd < 0) return this.pollExit();
    const h = new this.addon.Handle(fd);
    this.watch = h;
    h.onpoll = () => {
      h.close();
      this.watch = null;
      // Readable means exited; a reap that finds it running would be a kernel oddity: keep trying.
      if (!this.reap()) this.pollExit();
    };
    if (h.poll(READABLE) < 0) h.onpoll(0, 0);
  }

  /** Asks waitpid every 20 ms: the way without a pidfd. */
  private pollExit(): void {
    this.poller = setInterval(() => {
      if (this.reap()) clearInterval(this.poller);
    }, 20);
    if (!this.referenced) this.poller.unref();
  }

  /** Reaps the child if it has ended, and reports it: whether it had. */
  private reap(): boolean {
    if (this.exited || this.pid === undefined) return true;
    const r = this.addon.reap(this.pid);
    if (r === null) return false;
    this.exited = true;
    // As Node does: nothing more can be written to a process that has gone.
    this.stdin?.destroy();
    // -ECHILD: reaped by someone else (cannot happen: libuv reaps only its own children); report it as lost.
    this.exitArgs = typeof r === 'number' ? [null, 'SIGKILL'] : r.signal !== undefined ? [null, signalNames.get(r.signal) ?? 'SIGKILL'] : [r.code ?? 0, null];
    this.emit('exit', ...this.exitArgs);
    this.closed();
    return true;
  }

  private closed(): void {
    if (--this.closesNeeded === 0) this.emit('close', ...this.exitArgs);
  }

  private closeAll(childEnds: number[], parentFds: (number | null)[]): void {
    for (const fd of [...childEnds, ...parentFds]) if (fd !== null) this.addon.closeFd(fd);
  }

  /**
   * As Node does: the error is emitted on the next tick, after the caller
   * attached its listeners; the pipes it asked for exist (empty, ended), so
   * that code written for a started child needs no other path.
   */
  private failLater(errno: number, file: string, modes: StdioMode[]): void {
    for (const [i, m] of modes.entries()) {
      if (m !== 'pipe') {
        this.stdio.push(null);
        continue;
      }
      const s = new PassThrough();
      if (i !== 0) s.end();
      else s.resume();
      this.stdio.push(s);
    }
    this.named();
    const err = new SyscallError(errno, `spawn ${file}`) as SyscallError & { path: string; spawnargs?: string[] };
    err.path = file;
    process.nextTick(() => this.emit('error', err));
  }
}
