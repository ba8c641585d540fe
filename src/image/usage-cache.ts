// Disk usage answered from a cache, as containerd answers ImageFsInfo. kubelet
// asks for ImageFsInfo and every container's writable-layer usage on a loop,
// and a walk of a container's writable layer costs time in proportion to
// what the container wrote: walking on every call made ImageFsInfo take
// 673 ms with 50 containers, and let any container make kubelet's calls slow.
//
// So: one walk per path at a time (concurrent callers share it); a value
// younger than `freshMs` is answered as is; an older one is answered at once
// too, while one walk refreshes it in the background; only a path never seen
// waits for its first walk. Each walk is bounded (dirUsage's entry cap) and the
// number of paths remembered is bounded (the least recently asked is dropped).
//
// Background refreshes run a few at a time (`maxBackgroundWalks`); a stale
// value asked for while they are busy is answered as is, and a later call
// refreshes it. ListContainerStats asks for every container's layer at once:
// 200 walks started together filled libuv's pool with lstat calls, and every
// other call's file access (ImageFsInfo's) waited behind them (issue 18 profile).

import { dirUsage, type Usage } from './usage';

export interface UsageCacheOptions {
  /** A value younger than this is not refreshed (default 10 s, kubelet's housekeeping period). */
  freshMs?: number;
  /** Paths remembered at most (default 10 000). */
  maxPaths?: number;
  /** The walk (default dirUsage); injectable for tests. */
  walk?: (path: string) => Promise<Usage>;
  now?: () => number;
  /** Refreshes of stale values running at once at most (default 2); first walks, which a caller waits for, are not limited. */
  maxBackgroundWalks?: number;
}

interface Entry {
  value?: Usage;
  at: number;
  walking?: Promise<Usage>;
}

export class UsageCache {
  private readonly entries = new Map<string, Entry>();
  private readonly freshMs: number;
  private readonly maxPaths: number;
  private readonly walk: (path: string) => Promise<Usage>;
  private readonly now: () => number;
  private readonly maxBackground: number;
  private background = 0;

  constructor(opts: UsageCacheOptions = {}) {
    this.freshMs = opts.freshMs ?? 10_000;
    this.maxPaths = opts.maxPaths ?? 10_000;
    this.walk = opts.walk ?? ((p) => dirUsage(p));
    this.now = opts.now ?? Date.now;
    this.maxBackground = opts.maxBackgroundWalks ?? 2;
  }

  /** The usage of `path`: cached, possibly up to one walk old, never two walks at once. */
  async get(path: string): Promise<Usage> {
    let e = this.entries.get(path);
    if (e) {
      // Most recently asked last: Map keeps insertion order, so the first key is the one to drop.
      this.entries.delete(path);
      this.entries.set(path, e);
    } else {
      e = { at: 0 };
      this.entries.set(path, e);
      this.bound();
    }
    if (e.value && this.now() - e.at < this.freshMs) return e.value;
    if (!e.value) return e.walking ?? this.refresh(path, e);
    // Stale: answer now; a walk updates it, unless enough are running (then a later call starts it).
    if (!e.walking && this.background < this.maxBackground) {
      this.background++;
      void this.refresh(path, e)
        .catch(() => undefined) // a background refresh keeps the old value
        .finally(() => this.background--);
    }
    return e.value;
  }

  /** Background refreshes running now (a leak check: 0 once they are done). */
  get refreshing(): number {
    return this.background;
  }

  /** The path is gone (container removed): drop what is known of it. */
  forget(path: string): void {
    this.entries.delete(path);
  }

  get size(): number {
    return this.entries.size;
  }

  private refresh(path: string, e: Entry): Promise<Usage> {
    const started = this.now();
    const p = this.walk(path).then(
      (u) => {
        e.value = u;
        e.at = started;
        return u;
      },
      (err: unknown) => {
        if (!e.value) this.entries.delete(path);
        throw err;
      },
    );
    e.walking = p;
    void p
      .finally(() => {
        if (e.walking === p) e.walking = undefined;
      })
      .catch(() => undefined); // the caller that waits gets the error; a background refresh keeps the old value
    return p;
  }

  private bound(): void {
    while (this.entries.size > this.maxPaths) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.entries.delete(oldest);
    }
  }
}
