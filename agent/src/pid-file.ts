// Waiting for a pid file that crun writes (`crun run --pid-file`): it names
// the container's process once that runs. The wait sleeps until inotify
// reports the file in its directory: the guest has one vCPU, and a 10 ms
// poll (a timer, four thread-pool trips of a promise readFile) took it from
// crun for ~5 ms every ~15 ms while crun made the container (bench/vm-crun:
// a later StartContainer 395 -> 320 ms of guest CPU under TCG,
// docs/performance.md). A slow poll stays behind the watch only for a crun
// that fails before writing the file (the caller's `gone` sees its exit) and
// for a watch that could not be set up.

import { watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { readTextIfThere } from './files';
import { pidFromFile } from './oci-runtime';

const POLL_MS = 10;
/** The poll behind the inotify watch: how late a crun that failed before writing its pid file is noticed. */
const WATCHED_POLL_MS = 100;

/** The pid in `<dir>/<name>` once it is there; undefined if `gone()` (the writer exited) or `timeoutMs` passed first. */
export async function waitForPidFile(dir: string, name: string, o: { gone: () => boolean; timeoutMs: number }): Promise<number | undefined> {
  const file = join(dir, name);
  const end = Date.now() + o.timeoutMs;
  let wake: (() => void) | undefined;
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(dir, { persistent: false }, (_event, changed) => {
      if (changed === name) wake?.();
    });
    watcher.on('error', () => wake?.());
  } catch {
    watcher = undefined;
  }
  try {
    while (!o.gone() && Date.now() < end) {
      const pid = pidFromFile(readTextIfThere(file));
      if (pid) return pid;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, watcher ? WATCHED_POLL_MS : POLL_MS);
        function done(): void {
          clearTimeout(timer);
          wake = undefined;
          resolve();
        }
        wake = done;
      });
    }
    return undefined;
  } finally {
    watcher?.close();
  }
}
