// Which program a container runs, where, and how it is asked to stop.

import { InvalidArgumentError } from '../errors';
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
  SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGILL: 4, SIGTRAP: 5, SIGABRT: 6, SIGBUS: 7, SIGFPE: 8, SIGKILL: 9,
  SIGUSR1: 10, SIGSEGV: 11, SIGUSR2: 12, SIGPIPE: 13, SIGALRM: 14, SIGTERM: 15, SIGSTKFLT: 16, SIGCHLD: 17,
  SIGCONT: 18, SIGSTOP: 19, SIGTSTP: 20, SIGTTIN: 21, SIGTTOU: 22, SIGURG: 23, SIGXCPU: 24, SIGXFSZ: 25,
  SIGVTALRM: 26, SIGPROF: 27, SIGWINCH: 28, SIGIO: 29, SIGPWR: 30, SIGSYS: 31,
};

/** Normalises "TERM", "SIGTERM", "15", "SIGRTMIN+3" to a signal number; null if unknown. */
export function signalNumber(name: string): number | null {
  const s = name.trim().toUpperCase();
  if (/^\d+$/.test(s)) {
    const n = Number(s);
    return n >= 1 && n <= 64 ? n : null;
  }
  const full = s.startsWith('SIG') ? s : `SIG${s}`;
  if (full in SIGNALS) return SIGNALS[full]!;
  const rt = /^SIGRTMIN(?:\+(\d+))?$/.exec(full);
  if (rt) return 34 + Number(rt[1] ?? 0);
  const rtmax = /^SIGRTMAX(?:-(\d+))?$/.exec(full);
  if (rtmax) return 64 - Number(rtmax[1] ?? 0);
  return null;
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
  return SIGNALS.SIGTERM!;
}
