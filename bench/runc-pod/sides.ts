// The two runtimes bench/runc-pod compares, and how a stage measures them:
// round by round, alternating which side goes first (a change in the shared
// machine's load lands on both alike), a side that fails recorded with its
// error and left out of the stage's later rounds.

import type { Outcome } from '../lib/compare';
import { measured, unavailable } from '../lib/compare';
import type { CriTarget } from '../lib/cri-workload';
import { describeError } from '../lib/grpc-error';
import { roundOrder } from '../lib/interleave';
import type { RuntimeProcs } from '../lib/procs';

export interface Side {
  name: string;
  /** Absent when the runtime could not be started (then `unavailable` says why). */
  target?: CriTarget;
  procs?: RuntimeProcs;
  unavailable?: string;
}

export class Interrupted extends Error {}

/** One stage's failures per side: a side starts failed if it never ran. */
export class StageRun {
  readonly failed: (string | undefined)[];

  constructor(
    readonly sides: readonly Side[],
    private readonly stopping: () => boolean,
  ) {
    this.failed = sides.map((s) => s.unavailable);
  }

  check(): void {
    if (this.stopping()) throw new Interrupted('interrupted');
  }

  /** `fn` on every side still standing, in round `r`'s order. */
  async round(r: number, fn: (t: CriTarget, i: number) => Promise<void>): Promise<void> {
    for (const i of roundOrder(
      this.sides.map((_, i) => i),
      r,
    )) {
      const t = this.sides[i].target;
      if (this.failed[i] !== undefined || !t) continue;
      this.check();
      try {
        await fn(t, i);
      } catch (err) {
        this.check();
        this.failed[i] = describeError(err);
      }
    }
  }

  /** Per side: the samples, or why there are none. */
  outcomes(samples: readonly number[][]): Outcome[] {
    return this.sides.map((_, i) => (this.failed[i] !== undefined ? unavailable(this.failed[i]) : measured([...samples[i]])));
  }
}

export async function timeInto<T>(into: number[] | undefined, fn: () => Promise<T>): Promise<T> {
  const start = process.hrtime.bigint();
  const v = await fn();
  if (into) into.push(Number(process.hrtime.bigint() - start) / 1e6);
  return v;
}
