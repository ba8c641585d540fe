// A full filesystem is not a bug in vmpod: the caller is told
// RESOURCE_EXHAUSTED, which gRPC's status catalogue gives for "the entire
// file system is out of space", with what could not be written, so that an
// operator knows which disk to free. (containerd answers UNKNOWN: its CRI
// passes the wrapped ENOSPC through errdefs, which knows no such class.)
// The error is recognised by its errno (ENOSPC, or EDQUOT for a quota),
// never by its text, anywhere along its chain of causes: a step may have
// restated it.

import { ResourceExhaustedError } from '../../common/errors';

const OUT_OF_SPACE = new Set(['ENOSPC', 'EDQUOT']);

/** Whether `err`, or an error it was caused by, is a filesystem out of space (or quota). */
export function isOutOfSpace(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if (OUT_OF_SPACE.has((e as NodeJS.ErrnoException).code ?? '')) return true;
  }
  return false;
}

/**
 * RESOURCE_EXHAUSTED saying `message`, when `err` is a full filesystem; else
 * undefined (the caller keeps its own error). The advice to free space is
 * added once, by the first to say it.
 */
export function outOfSpaceError(err: unknown, message: string): ResourceExhaustedError | undefined {
  if (!isOutOfSpace(err)) return undefined;
  return new ResourceExhaustedError(saidAlready(err) ? message : `${message}; free space on that filesystem and retry`, { cause: err });
}

function saidAlready(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) if (e instanceof ResourceExhaustedError) return true;
  return false;
}
