// The phased start RunPodSandbox and CreateContainer share: the record
// written first, then sandbox/steps.ts with the pod domain's error rule and
// its phase observer.

import type { Logger } from '../log';
import { restated, Steps, wrapStepError } from '../sandbox/steps';
import { outOfSpaceError } from '../store/out-of-space';
import type { Domain } from './domain';

/**
 * Write the new object's first record (`writeRecord`; a failure names the
 * object, since the caller does not know its id yet), then the Steps of
 * `operation` (the CRI method, the phase histogram's label). A full disk
 * under any step is RESOURCE_EXHAUSTED, whatever error class the step
 * wrapped it in.
 */
export function startSteps(d: Domain, what: string, log: Logger, operation: string, writeRecord: () => void): Steps {
  try {
    writeRecord();
  } catch (err) {
    throw restated(err, `${what}: ${(err as Error).message}`);
  }
  const errorFor = (step: string, err: unknown): Error => outOfSpaceError(err, `${what}: step "${step}" failed: ${(err as Error).message}`) ?? wrapStepError(what, step, err);
  return new Steps(what, log, { errorFor, phases: d.phases && { operation, observer: d.phases } });
}
