// Directory trees deleted after the call that dropped them has answered.
// RemoveContainer used to delete a container's writable layer and bundle
// before replying (a recursive rm through libuv's pool, 4-9 ms of its ~9 ms);
// containerd leaves its snapshot to a background GC. A tree is renamed into
// the trash dir (one rename(2), same filesystem), which ends its life under
// its old name at once, and deleted in the background. What a killed daemon
// left in the trash is deleted by the sweep at start-up. drained() lets a
// caller that promises "nothing is left" (RemovePodSandbox) wait for the
// deletions in flight.

import { mkdirSync, readdirSync, renameSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { Logger } from '../log';
import { removeTree } from './remove-tree';

export class Trash {
  private readonly pending = new Set<Promise<void>>();
  /** Names in the trash: this run's start time and a count, unique across runs without asking for random bytes per call. */
  private readonly runTag = `${process.pid.toString(36)}.${Date.now().toString(36)}`;
  private discarded = 0;

  /** `dir` must be on the filesystem of the trees discarded into it; a tree elsewhere is deleted in place. */
  constructor(
    readonly dir: string,
    private readonly log: Logger,
    private readonly remove: (path: string) => Promise<void> = removeTree,
  ) {}

  /**
   * Take `path` away now and delete it in the background. Resolves once the
   * path no longer exists under its name. A path that does not exist is done;
   * one that cannot be renamed here (another filesystem, no trash dir) is
   * deleted before this resolves, as it would have been without a trash.
   */
  async discard(path: string): Promise<void> {
    const to = join(this.dir, `${basename(path)}-${this.runTag}.${++this.discarded}`);
    try {
      this.rename(path, to);
    } catch (err) {
      // The trash dir exists by now, so ENOENT is the path itself: already gone.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      await this.remove(path);
      return;
    }
    this.track(to);
  }

  /** Delete what an earlier run left in the trash (a daemon killed before its deletions finished), in the background. */
  sweep(): void {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return; // no trash yet
    }
    for (const n of names) this.track(join(this.dir, n));
    if (names.length > 0) this.log.info({ dir: this.dir, count: names.length }, 'deleting what the previous run left in the trash');
  }

  /** Resolves when every deletion started so far has ended (failures are logged, and the start-up sweep retries them). */
  async drained(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  /** Deletions in flight (for tests and metrics). */
  get size(): number {
    return this.pending.size;
  }

  /** The trash dir is made at the first rename that finds it missing, not before every one. */
  private rename(from: string, to: string): void {
    try {
      renameSync(from, to);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      renameSync(from, to);
    }
  }

  private track(path: string): void {
    const p = this.remove(path)
      .catch((err: Error) => this.log.warn({ path, err: err.message }, 'deleting a discarded tree failed; the next start-up sweeps it'))
      .finally(() => this.pending.delete(p));
    this.pending.add(p);
  }
}
