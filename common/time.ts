// Time, once: CRI timestamps are Unix nanoseconds as decimal strings, and
// every wait is a promise.

export { setTimeout as sleep } from 'node:timers/promises';

/** Now, in Unix nanoseconds, as the decimal string CRI messages carry. */
export function nowNs(): string {
  return (BigInt(Date.now()) * 1_000_000n).toString();
}

/** A Date (or ms since the epoch) in Unix nanoseconds, as a decimal string. */
export function msToNs(ms: number | Date): string {
  return (BigInt(typeof ms === 'number' ? Math.trunc(ms) : ms.getTime()) * 1_000_000n).toString();
}

/**
 * A time in ms since the epoch (default now) in Unix nanoseconds, as a
 * number: the agent protocol's int64 fields decode to numbers, and a double
 * holds today's nanoseconds to within a few hundred ns, finer than the
 * millisecond clock it comes from.
 */
export function unixNanoNumber(ms: number = Date.now()): number {
  return ms * 1e6;
}
