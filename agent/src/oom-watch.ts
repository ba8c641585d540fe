// Which running containers' memory.events changed: an inotify watch per
// container cgroup, rather than a timer that reads every container's file.
// cgroup v2 sends a file-modified event when a count in memory.events
// changes (the kernel's cgroup_file_notify), so a container that is never
// OOM-killed costs the guest nothing while it idles. The timer it replaces
// read each file every 500 ms: under TCG that kept an idle VM pod's one
// vCPU at about 18 ms/s of work for nothing (docs/performance.md, density).
//
// A watch that cannot be set up (no inotify, the cgroup not there yet)
// falls back to the timer for that container, so an OOM kill is still
// noticed, only later. After every new watch the owner reads the file once:
// a kill between the cgroup's creation and the watch has no event of its own.

import { watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';

export class OomWatches {
  private readonly watches = new Map<string, FSWatcher>();
  private readonly polled = new Set<string>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    /** Called with a container id whose memory.events may have changed; reads it and reports growth. */
    private readonly changed: (id: string) => void,
    private readonly fallbackPollMs: number,
  ) {}

  /** Watches `id`'s `<cgroupDir>/memory.events` until remove(id); then tells `changed` once. */
  add(id: string, cgroupDir: string): void {
    this.remove(id);
    try {
      const w = watch(join(cgroupDir, 'memory.events'), { persistent: false }, () => this.changed(id));
      // The cgroup went away (crun removes it when the container's init exits): nothing more to see.
      w.on('error', () => this.remove(id));
      this.watches.set(id, w);
    } catch {
      this.polled.add(id);
      this.timer ??= setInterval(() => {
        for (const p of this.polled) this.changed(p);
      }, this.fallbackPollMs);
      this.timer.unref();
    }
    this.changed(id);
  }

  remove(id: string): void {
    this.watches.get(id)?.close();
    this.watches.delete(id);
    if (this.polled.delete(id) && this.polled.size === 0) this.stopTimer();
  }

  /** How many containers are watched by inotify and by the fallback timer (tests). */
  get counts(): { watched: number; polled: number } {
    return { watched: this.watches.size, polled: this.polled.size };
  }

  close(): void {
    for (const w of this.watches.values()) w.close();
    this.watches.clear();
    this.polled.clear();
    this.stopTimer();
  }

  private stopTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
