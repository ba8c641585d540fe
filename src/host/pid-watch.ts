// A process's exit as an event: pidfd_open(2) through the native addon gives
// an fd that becomes readable when the process exits, polled on the event
// loop like any socket. The runc controller's live state (sandbox/runc/
// live-state.ts) watches each container's and pod's init this way instead of
// asking kill(pid, 0) for every container on every CRI list: that probe was
// most of what a ListContainers of 200 containers cost.
//
// A pidfd names one process, not a number: a PID reused after the exit
// cannot be mistaken for it. Without the addon, or when the kernel refuses
// (no pidfd_open before Linux 5.3, out of fds), there is no watch and the
// caller probes as before.

import { errnoOf } from '../../common/native/errno';
import { AddonUnavailableError, loadAddon } from '../../common/native/addon';

/** A live watch; close() ends it without calling onExit. Idempotent. */
export interface PidWatch {
  close(): void;
}

/** What watchPidExit found: a watch, the process already gone, or no way to watch (probe instead). */
export type PidWatchResult = PidWatch | 'gone' | null;

const READABLE = 1; // UV_READABLE
/** -ESRCH, as the addon returns it. */
const ESRCH = errnoOf('ESRCH');

/**
 * Calls `onExit` once, when process `pid` exits (from the event loop, never
 * synchronously). The watch keeps neither the process nor the event loop
 * alive.
 */
export function watchPidExit(pid: number, onExit: () => void): PidWatchResult {
  if (!Number.isSafeInteger(pid) || pid <= 0) return 'gone';
  let addon;
  try {
    addon = loadAddon();
  } catch (err) {
    if (err instanceof AddonUnavailableError) return null;
    throw err;
  }
  const fd = addon.pidfdOpen(pid);
  if (fd === ESRCH) return 'gone';
  if (fd < 0) return null;
  const h = new addon.Handle(fd);
  let open = true;
  const close = (): void => {
    if (!open) return;
    open = false;
    h.close();
  };
  // Any poll report ends the watch: readable is the exit; an error (the fd
  // dropped from epoll) leaves no way to learn of it, so it counts as one and
  // the caller's full check decides.
  h.onpoll = () => {
    if (!open) return;
    close();
    onExit();
  };
  if (h.poll(READABLE) < 0) {
    close();
    return null;
  }
  h.setRef(false);
  return { close };
}
