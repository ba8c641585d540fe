// The one phased-start primitive: runs named steps, records how long each
// took, and on failure undoes the steps that completed (newest first) and
// throws an error naming the step. Used by RunPodSandbox and CreateContainer
// in the pod domain, the runc pod start and the pod VM start, so a slow or
// failed start can be explained from the log alone.

import { InternalError, isVmpodError } from '../../common/errors';
import type { Logger } from '../log';

export interface StepsOptions {
  /**
   * The error to throw when step `step` failed with `err`. Default: the same
   * error class (so the same gRPC status) with `<what>: step "<step>" failed: `
   * before its message.
   */
  errorFor?: (step: string, err: unknown) => Error;
  /** Told each completed step's duration, under `operation` (src/metrics keeps a histogram). */
  phases?: { operation: string; observer: PhaseObserver };
}

/** Receives the duration of every step that completed (failed steps are not timed). */
export interface PhaseObserver {
  phaseDone(operation: string, step: string, seconds: number): void;
}

/** One of the steps Steps.all runs at once: as Steps.run's arguments. */
export interface ParallelStep<T> {
  name: string;
  run: () => Promise<T>;
  rollback?: (value: T) => Promise<void>;
}

export class Steps {
  private readonly undo: { name: string; fn: () => Promise<void> }[] = [];
  private readonly ms: Record<string, number> = {};
  private readonly started = Date.now();

  constructor(
    private readonly what: string,
    private readonly log: Logger,
    private readonly opts: StepsOptions = {},
  ) {}

  async run<T>(name: string, fn: () => Promise<T>, rollback?: (value: T) => Promise<void>): Promise<T> {
    const t0 = Date.now();
    let value: T;
    try {
      value = await fn();
    } catch (err) {
      this.log.error({ step: name, err: (err as Error).message }, `${this.what} failed; rolling back`);
      // The error is described before the rollback tears down what it may need (a VM's console).
      const failure = this.opts.errorFor ? this.opts.errorFor(name, err) : wrapStepError(this.what, name, err);
      await this.rollback();
      throw failure;
    }
    this.completed(name, Date.now() - t0);
    if (rollback) this.undo.push({ name, fn: () => rollback(value) });
    return value;
  }

  /**
   * Steps that run at the same time (RunPodSandbox's CNI ADD beside the
   * sandbox's create). Rollback waits until every one has settled, so no
   * undo runs while a sibling is still making what it would undo; then, if
   * any failed, the ones that completed are undone with the rest (their undos
   * registered in the order given) and the error names the first failed step
   * in that order. Values come back in the same order.
   */
  async all<T extends readonly unknown[]>(parallel: { [K in keyof T]: ParallelStep<T[K]> }): Promise<T> {
    // Each timed on its own: the phase log shows which of them the call waited for.
    const ms: number[] = [];
    const settled = await Promise.allSettled(
      parallel.map(async (p, i) => {
        const t0 = Date.now();
        const v = await p.run();
        ms[i] = Date.now() - t0;
        return v;
      }),
    );
    let failed: { name: string; err: unknown } | undefined;
    settled.forEach((r, i) => {
      const { name, rollback } = parallel[i];
      if (r.status === 'rejected') {
        failed ??= { name, err: r.reason };
        return;
      }
      this.completed(name, ms[i]);
      if (rollback) this.undo.push({ name, fn: () => rollback(r.value) });
    });
    if (failed) {
      this.log.error({ step: failed.name, err: (failed.err as Error)?.message }, `${this.what} failed; rolling back`);
      const failure = this.opts.errorFor ? this.opts.errorFor(failed.name, failed.err) : wrapStepError(this.what, failed.name, failed.err);
      await this.rollback();
      throw failure;
    }
    return settled.map((r) => (r as PromiseFulfilledResult<unknown>).value) as unknown as T;
  }

  private completed(name: string, ms: number): void {
    this.ms[name] = ms;
    this.opts.phases?.observer.phaseDone(this.opts.phases.operation, name, ms / 1000);
  }

  async rollback(): Promise<void> {
    for (const u of this.undo.reverse()) {
      try {
        await u.fn();
      } catch (err) {
        this.log.warn({ step: u.name, err: (err as Error).message }, 'rollback step failed');
      }
    }
    this.undo.length = 0;
  }

  /** How long each completed step took, in ms. */
  get timings(): Readonly<Record<string, number>> {
    return { ...this.ms };
  }

  /** Logs the phase timings (so a slow start can be explained from the log). */
  done(fields: Record<string, unknown> = {}): void {
    this.log.info({ ...fields, phasesMs: this.ms, totalMs: Date.now() - this.started }, `${this.what} done`);
  }
}

/** Keeps the error class (and so its gRPC status) but prefixes the step. */
export function wrapStepError(what: string, step: string, err: unknown): Error {
  return restated(err, `${what}: step "${step}" failed: ${(err as Error)?.message ?? String(err)}`);
}

/** `err` with `message` instead of its own, keeping a typed error's class (so its gRPC status); anything else becomes INTERNAL. */
export function restated(err: unknown, message: string): Error {
  if (isVmpodError(err)) {
    err.message = message;
    return err;
  }
  return new InternalError(message, { cause: err });
}
