// The lowest layer: everything that needs root, crun or the real guest goes
// through this interface, so the RPC handlers and container logic run
// unchanged in unit tests on the host with a fake System.

import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { GUEST } from './paths';
import { mountSyscallArgs } from './mounts';
import { mount as mountSyscall } from '../../common/native/syscalls';
import { guestNetCalls, type GuestNetCalls } from '../../common/native/rtnetlink';
import { spawnChild, type Child } from '../../common/native/spawn';
import { loadAddon } from '../../common/native/addon';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface System {
  /** Run a command to completion. */
  run(cmd: string, args: string[], opts?: { input?: string | Buffer; timeoutMs?: number }): Promise<RunResult>;
  /**
   * Start a long-running command (crun run / crun exec, a debug process) with
   * piped stdio, or with `terminalFd` as stdin, stdout and stderr; `env`
   * replaces the agent's own environment (debug processes), `cwd` its directory.
   */
  spawn(cmd: string, args: string[], terminalFd?: number, opts?: SpawnOptions): Child;
  powerOff(): void;
  /**
   * `mount -t TYPE -o OPTS SOURCE TARGET` (busybox's arguments, without the
   * binary) done in-process by mount(2), where the platform can; absent (the
   * unit tests' fake), callers run busybox mount instead. Throws on failure.
   */
  mount?(args: string[]): void;
  /**
   * The addon's rtnetlink and clock calls (no fork), when this guest's addon
   * has them; absent or undefined (the unit tests' fake, an older addon),
   * callers run busybox `ip` and `date` instead.
   */
  guestNet?(): GuestNetCalls | undefined;
  /**
   * Mix and credit `entropy` into the kernel's RNG and reseed it now
   * (native/vsock/random.cc). Throws when it cannot; absent (the unit tests'
   * fake), callers only write the bytes to /dev/urandom, which mixes them in
   * without a reseed.
   */
  reseedRandom?(entropy: Uint8Array): void;
}

export interface SpawnOptions {
  env?: Record<string, string>;
  cwd?: string;
}

export class CommandError extends Error {
  override name = 'CommandError';
  constructor(
    readonly cmd: string,
    readonly args: string[],
    readonly result: RunResult,
  ) {
    super(`${cmd} ${args.join(' ')} exited ${result.code}: ${result.stderr.trim().slice(0, 2000)}`);
  }
}

/** Run and throw CommandError on a non-zero exit. */
export async function mustRun(sys: System, cmd: string, args: string[], opts?: { input?: string | Buffer; timeoutMs?: number }): Promise<RunResult> {
  const r = await sys.run(cmd, args, opts);
  if (r.code !== 0) throw new CommandError(cmd, args, r);
  return r;
}

const MAX_CAPTURE = 1 << 20;

/**
 * Every program (crun run, exec, kill, delete, update; busybox) is started
 * with posix_spawn through the addon (common/native/spawn.ts), falling back
 * to Node's spawn where the guest's addon lacks it: Node's fork copies the
 * agent's page tables, ~15-30 ms of guest time per program under TCG
 * (bench/vm-exec).
 */
export const realSystem: System = {
  run(cmd, args, opts = {}) {
    return new Promise((resolve) => {
      const child = spawnChild(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let outLen = 0;
      let errLen = 0;
      child.stdout!.on('data', (b: Buffer) => {
        if ((outLen += b.length) <= MAX_CAPTURE) out.push(b);
      });
      child.stderr!.on('data', (b: Buffer) => {
        if ((errLen += b.length) <= MAX_CAPTURE) err.push(b);
      });
      const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : undefined;
      child.on('error', (e) => {
        if (timer) clearTimeout(timer);
        resolve({ code: 127, stdout: '', stderr: `${cmd}: ${e.message}` });
      });
      child.on('close', (code, signal) => {
        if (timer) clearTimeout(timer);
        resolve({ code: code ?? 128 + signalNumber(signal), stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() });
      });
      child.stdin!.on('error', () => undefined);
      child.stdin!.end(opts.input ?? '');
    });
  },
  spawn(cmd, args, terminalFd, opts = {}) {
    return spawnChild(cmd, args, { stdio: terminalFd === undefined ? ['pipe', 'pipe', 'pipe'] : [terminalFd, terminalFd, terminalFd], env: opts.env, cwd: opts.cwd });
  },
  powerOff() {
    spawn(GUEST.busybox, ['poweroff', '-f'], { stdio: 'inherit' });
  },
  mount(args) {
    const m = mountSyscallArgs(args);
    mountSyscall(m.source, m.target, m.fstype, m.flags, m.data || null);
  },
  guestNet: guestNetCalls,
  reseedRandom(entropy) {
    const addon = loadAddon();
    if (!addon.reseedRandom) throw new Error('the guest addon has no reseedRandom (built before it)');
    addon.reseedRandom(entropy);
  },
};

export function signalNumber(signal: NodeJS.Signals | null): number {
  if (!signal) return 0;
  return constants.signals[signal] ?? 0;
}

/**
 * Mount through `sys.mount` (mount(2) in-process) and, when that is absent or
 * fails (no addon in this guest), through busybox, whose error is the one
 * reported. `args` are busybox's: ['mount', '-t', TYPE, '-o', OPTS, SOURCE, TARGET].
 */
export async function mountWith(sys: System, busybox: string, args: string[]): Promise<void> {
  if (sys.mount) {
    try {
      sys.mount(args);
      return;
    } catch {
      // fall through: busybox gives the error its own words, or succeeds where the addon is missing
    }
  }
  await mustRun(sys, busybox, args);
}
