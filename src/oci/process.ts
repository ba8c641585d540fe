// Which program a container runs, where, and how it is asked to stop.

import { InvalidArgumentError } from '../../common/errors';
import type { ImageRunConfig } from './input';

/**
 * CRI command/args against the image's Entrypoint/Cmd, exactly as containerd
 * does it (which follows Docker's rule kubelet users know from Pod specs):
 * `command` replaces the Entrypoint and drops Cmd; `args` alone replaces Cmd
 * and keeps the Entrypoint; neither → Entrypoint + Cmd.
 */
export function resolveArgs(command: readonly string[], args: readonly string[], image: ImageRunConfig): string[] {
  let cmd = [...command];
  let rest = [...args];
  if (cmd.length === 0) {
    if (rest.length === 0) rest = [...(image.Cmd ?? [])];
    const ep = image.Entrypoint ?? [];
    // An Entrypoint of [""] is how images reset an inherited entrypoint.
    if (!(ep.length === 1 && ep[0] === '')) cmd = [...ep];
  }
  const all = [...cmd, ...rest];
  if (all.length === 0) {
    throw new InvalidArgumentError('config.command', 'no command specified: the request has no command/args and the image has no Entrypoint/Cmd');
  }
  return all;
}

export function resolveCwd(workingDir: string, image: ImageRunConfig): string {
  const cwd = workingDir || image.WorkingDir || '/';
  if (!cwd.startsWith('/')) throw new InvalidArgumentError('config.working_dir', `"${cwd}" is not an absolute path`);
  return cwd;
}

const SIGNALS: Record<string, number> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGILL: 4,
  SIGTRAP: 5,
  SIGABRT: 6,
  SIGBUS: 7,
  SIGFPE: 8,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGSEGV: 11,
  SIGUSR2: 12,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
  SIGSTKFLT: 16,
  SIGCHLD: 17,
  SIGCONT: 18,
  SIGSTOP: 19,
  SIGTSTP: 20,
  SIGTTIN: 21,
  SIGTTOU: 22,
  SIGURG: 23,
  SIGXCPU: 24,
  SIGXFSZ: 25,
  SIGVTALRM: 26,
  SIGPROF: 27,
  SIGWINCH: 28,
  SIGIO: 29,
  SIGPWR: 30,
  SIGSYS: 31,
};
/** Other names of the same signals (the CRI Signal enum has them too). */
const SIGNAL_ALIASES: Record<string, number> = { SIGIOT: 6, SIGCLD: 17, SIGPOLL: 29 };
/** glibc's SIGRTMIN (the kernel's 32 and 33 are taken by the threading library). */
const SIGRTMIN = 34;
const SIGRTMAX = 64;

/** Normalises "TERM", "SIGTERM", "15", "SIGRTMIN+3" to a signal number; null if unknown. */
export function signalNumber(name: string): number | null {
  const s = name.trim().toUpperCase();
  if (/^\d+$/.test(s)) {
    const n = Number(s);
    return n >= 1 && n <= 64 ? n : null;
  }
  const full = s.startsWith('SIG') ? s : `SIG${s}`;
  if (full in SIGNALS) return SIGNALS[full];
  if (full in SIGNAL_ALIASES) return SIGNAL_ALIASES[full];
  // "SIGRTMIN+3" (Docker, images) and "SIGRTMINPLUS3" (the CRI enum).
  const rt = /^SIGRTMIN(?:(?:\+|PLUS)(\d+))?$/.exec(full);
  if (rt) return inRange(SIGRTMIN + Number(rt[1] ?? 0));
  const rtmax = /^SIGRTMAX(?:(?:-|MINUS)(\d+))?$/.exec(full);
  if (rtmax) return inRange(SIGRTMAX - Number(rtmax[1] ?? 0));
  return null;
}

function inRange(n: number): number | null {
  return n >= SIGRTMIN && n <= SIGRTMAX ? n : null;
}

/** The CRI Signal enum name of a signal number (ContainerStatus.stop_signal). */
export function criSignalName(n: number): string {
  const plain = Object.entries(SIGNALS).find(([, v]) => v === n)?.[0];
  if (plain) return plain;
  if (n === SIGRTMIN) return 'SIGRTMIN';
  if (n === SIGRTMAX) return 'SIGRTMAX';
  if (n > SIGRTMIN && n <= SIGRTMIN + 15) return `SIGRTMINPLUS${n - SIGRTMIN}`;
  if (n > SIGRTMIN + 15 && n < SIGRTMAX) return `SIGRTMAXMINUS${SIGRTMAX - n}`;
  return 'RUNTIME_DEFAULT';
}

/**
 * The signal StopContainer sends first: the CRI `stop_signal` if set (newer
 * kubelets), else the image's StopSignal, else SIGTERM.
 */
export function resolveStopSignal(criStopSignal: string, image: ImageRunConfig): number {
  if (criStopSignal && criStopSignal !== 'RUNTIME_DEFAULT') {
    const n = signalNumber(criStopSignal);
    if (n !== null) return n;
  }
  if (image.StopSignal) {
    const n = signalNumber(image.StopSignal);
    if (n !== null) return n;
  }
  return SIGNALS.SIGTERM;
}
