// Work that concurrent pulls share (one download per blob, one unpack per
// chain id), each of which may give up on its own. The work gets its own
// AbortSignal, never a caller's: it runs while at least one caller still
// waits for it, and is aborted when the last waiter leaves (its signal
// aborted: client cancel or deadline) or when the owner closes (daemon
// shutdown). A waiter that leaves is told at once (its promise rejects with
// its signal's reason); the work itself may need a moment to stop and remove
// what it half made, which `abandonedSettled()` awaits.
//
// Abandoned work leaves the map at once, so a caller that comes later starts
// the work afresh instead of joining one that is being torn down.

/** Why a signal aborted, as an Error (a signal may be aborted with any value; the default is a DOMException, an Error). */
export function abortReason(signal: AbortSignal): Error {
  const r: unknown = signal.reason;
  return r instanceof Error ? r : new Error(`aborted: ${String(r)}`);
}

interface Waiter {
  reject(reason: Error): void;
  leave(): void;
}

interface Entry {
  key: string;
  controller: AbortController;
  waiters: Set<Waiter>;
  done: Promise<unknown>;
}

export class SharedWork {
  private readonly live = new Map<string, Entry>();
  /** Work aborted (no waiter left, or closed) that has not ended yet. */
  private readonly abandoned = new Set<Entry>();
  private closedWith: { reason: Error } | undefined;

  /**
   * Join the work under `key`, starting `fn` if none runs. Resolves or
   * rejects with the work's outcome, or rejects with `signal.reason` as soon
   * as `signal` aborts (the work goes on only while someone else waits).
   */
  run<T>(key: string, fn: (signal: AbortSignal) => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (this.closedWith) return Promise.reject(this.closedWith.reason);
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    let entry = this.live.get(key);
    if (!entry) {
      const controller = new AbortController();
      const e: Entry = { key, controller, waiters: new Set(), done: Promise.resolve() };
      // A synchronous throw of fn becomes the work's rejection, like any other.
      e.done = (async () => fn(controller.signal))();
      const end = (): void => {
        if (this.live.get(key) === e) this.live.delete(key);
        this.abandoned.delete(e);
      };
      // The work's outcome reaches its waiters below; abandoned work may fail with nobody listening.
      e.done.then(end, end);
      this.live.set(key, e);
      entry = e;
    }
    return this.wait(entry, signal) as Promise<T>;
  }

  private wait(e: Entry, signal: AbortSignal | undefined): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        waiter.leave();
        const reason = abortReason(signal!);
        reject(reason);
        if (e.waiters.size === 0) this.abandon(e, reason);
      };
      const waiter: Waiter = {
        reject,
        leave: () => {
          e.waiters.delete(waiter);
          signal?.removeEventListener('abort', onAbort);
        },
      };
      e.waiters.add(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
      e.done.then(
        (v) => {
          waiter.leave();
          resolve(v);
        },
        (err: unknown) => {
          waiter.leave();
          reject(err);
        },
      );
    });
  }

  private abandon(e: Entry, reason: Error): void {
    if (this.live.get(e.key) === e) this.live.delete(e.key);
    this.abandoned.add(e);
    e.controller.abort(reason);
    // It may have ended already (its settle handler ran before this abort).
    e.done.then(
      () => this.abandoned.delete(e),
      () => this.abandoned.delete(e),
    );
  }

  /** Resolves when every piece of abandoned work has ended (each stops within a bounded time once aborted). */
  async abandonedSettled(): Promise<void> {
    while (this.abandoned.size > 0) await Promise.allSettled([...this.abandoned].map((e) => e.done));
  }

  /**
   * Abort all work and refuse new work: every waiter rejects with `reason` at
   * once. Resolves when all the work has ended.
   */
  async close(reason: Error): Promise<void> {
    this.closedWith ??= { reason };
    for (const e of [...this.live.values()]) {
      for (const w of [...e.waiters]) {
        w.leave();
        w.reject(reason);
      }
      this.abandon(e, reason);
    }
    await this.abandonedSettled();
  }

  /** Keys of the work that callers still wait for. */
  keys(): string[] {
    return [...this.live.keys()];
  }
}
