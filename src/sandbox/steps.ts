// Runs named steps, logs how long each took, and on failure undoes the steps
// that completed (newest first) and throws an error naming the step.

import { InternalError, isVmpodError, type VmpodError } from '../../common/errors';
import type { Logger } from '../log';

export class Steps {
  private readonly undo: { name: string; fn: () => Promise<void> }[] = [];
  private readonly timings: Record<string, number> = {};
  private readonly started = Date.now();

  constructor(private readonly what: string, private readonly log: Logger) {}

  async run<T>(name: string, fn: () => Promise<T>, rollback?: (value: T) => Promise<void>): Promise<T> {
    const t0 = Date.now();
    let value: T;
    try {
      value = await fn();
    } catch (err) {
      this.log.error({ step: name, err: (err as Error).message }, `${this.what} failed; rolling back`);
      await this.rollback();
      throw wrapStepError(this.what, name, err);
    }
    this.timings[name] = Date.now() - t0;
    if (rollback) this.undo.push({ name, fn: () => rollback(value) });
    return value;
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

  /** Logs the phase timings (so a slow start can be explained from the log). */
  done(): void {
    this.log.info({ phasesMs: this.timings, totalMs: Date.now() - this.started }, `${this.what} done`);
  }
}

/** Keeps the error class (and so its gRPC status) but prefixes the step. */
export function wrapStepError(what: string, step: string, err: unknown): Error {
  const msg = `${what}: step "${step}" failed: ${(err as Error).message}`;
  if (isVmpodError(err)) {
    const e = err as VmpodError;
    e.message = msg;
    return e;
  }
  return new InternalError(msg, { cause: err });
}
