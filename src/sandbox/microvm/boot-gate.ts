// How many VM pods boot at once. A TCG boot is CPU-bound from QEMU's start
// to the agent's first answer; measured here (bench/vm-pod --parallel, 2
// CPUs), ten pods booted at once took 259 s until the last was ready, against
// 78 s for the same ten one after another: each QEMU used three times the CPU
// it uses alone. Two at a time (one per CPU) took 10.3 s a pair. So boots
// beyond the host's CPU count wait here for a slot; everything before (pod
// dir, share, tap, cgroup) and after (sandbox set-up, containers) runs
// unbounded. With the gate, ten at once were all ready after 68 s, against
// 89 s for ten one after another in the same run.

import { cpus } from 'node:os';

/** A counting semaphore: at most `limit` callers inside `run` at once, the rest served in arrival order. */
export class BootGate {
  private inside = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`boot gate limit ${limit} is not a positive integer`);
  }

  /** Resolves once a slot is free, with the function that gives it back (calling it again does nothing). */
  async acquire(): Promise<() => void> {
    if (this.inside >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.inside++;
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      // The slot passes straight to the next waiter (inside stays the same), or is freed.
      const next = this.waiting.shift();
      if (next) next();
      else this.inside--;
    };
  }

  /** Runs `fn` once a slot is free; the slot is given back however `fn` ends. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    const release = await this.acquire();
    try {
      return await fn();
    } finally {
      release();
    }
  }

  /** Callers inside and waiting (for tests and logs). */
  get load(): { inside: number; waiting: number } {
    return { inside: this.inside, waiting: this.waiting.length };
  }
}

/** The daemon's gate for TCG boots: one per host CPU (shared by every VM handler, which share the CPUs). */
export const tcgBootGate = new BootGate(Math.max(1, cpus().length));
