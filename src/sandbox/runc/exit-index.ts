// Which exit files conmon has written, known from memory. kubelet asks for
// every container's state every second; looking for `<exitDir>/<id>` per
// container per call is a disk lookup per container. Instead the names in
// the exit dir are kept in a set that is read again (one readdir) only when
// the directory changed: conmon creates the file (through a temporary name
// and a rename), which moves the directory's mtime. One stat of the
// directory per call (not per container) keeps the answer exact, also for an
// exit whose inotify event the daemon has not processed yet.
//
// Directory timestamps are coarse (the kernel's tick, a few ms): a file made
// in the same tick as the last readdir leaves the mtime unchanged. So while
// the mtime is younger than RECENT_MS the directory is read on every check.

import { readdirSync, statSync } from 'node:fs';

/** Longer than any kernel timestamp granularity (a jiffy at HZ=100 is 10 ms). */
export const RECENT_MS = 100;

export interface ExitIndexOptions {
  /** Unix ms now (injectable for tests). */
  now?: () => number;
  /** How checks within one synchronous stretch share one stat (default: until the next microtask). */
  schedule?: (fn: () => void) => void;
}

/** What a stat of the directory says about whether its list may have changed. */
export function needsRescan(prev: string | undefined, stamp: string | undefined, mtimeMs: number, nowMs: number): boolean {
  if (stamp === undefined) return false;
  return prev !== stamp || nowMs - mtimeMs < RECENT_MS;
}

export class ExitIndex {
  private names = new Set<string>();
  private stamp: string | undefined;
  private checked = false;
  private readonly now: () => number;
  private readonly schedule: (fn: () => void) => void;
  /** readdirs done (for tests and the bench's curiosity). */
  scans = 0;

  constructor(
    private readonly dir: string,
    opts: ExitIndexOptions = {},
  ) {
    this.now = opts.now ?? Date.now;
    this.schedule = opts.schedule ?? queueMicrotask;
  }

  /** conmon has written `<dir>/<id>` (as of this call). */
  has(id: string): boolean {
    this.sync();
    return this.names.has(id);
  }

  /** The watcher saw it appear: known before the next stat says so. */
  add(id: string): void {
    this.names.add(id);
  }

  /** The exit file was removed with its container or pod. */
  delete(id: string): void {
    this.names.delete(id);
  }

  private sync(): void {
    // A list call checks 200 containers in one synchronous stretch: one stat serves them all.
    if (this.checked) return;
    this.checked = true;
    this.schedule(() => {
      this.checked = false;
    });
    const st = statSync(this.dir, { bigint: true, throwIfNoEntry: false });
    if (!st) {
      this.names.clear();
      this.stamp = undefined;
      return;
    }
    const stamp = `${st.ino}:${st.mtimeNs}:${st.ctimeNs}`;
    if (!needsRescan(this.stamp, stamp, Number(st.mtimeNs / 1_000_000n), this.now())) return;
    this.names = new Set(readdirSync(this.dir));
    this.stamp = stamp;
    this.scans++;
  }
}
