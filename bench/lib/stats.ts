// Summary statistics for benchmark samples. Medians and nearest-rank
// percentiles rather than means: on a shared 2-core machine a single stalled
// sample would drag a mean far from what a user typically sees.

export interface Summary {
  n: number;
  min: number;
  median: number;
  p90: number;
  max: number;
}

function sortedFinite(xs: readonly number[]): number[] {
  for (const x of xs) if (!Number.isFinite(x)) throw new RangeError(`sample ${x} is not a finite number`);
  return [...xs].sort((a, b) => a - b);
}

/** Median; the mean of the two middle samples when n is even. Throws on no samples (a bench that measured nothing must not print 0). */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new RangeError('median of no samples');
  const s = sortedFinite(xs);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Nearest-rank percentile (p in [0, 100]): always one of the samples, never an interpolation. */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) throw new RangeError('percentile of no samples');
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile ${p} is outside [0, 100]`);
  const s = sortedFinite(xs);
  const rank = Math.max(1, Math.ceil((p / 100) * s.length));
  return s[rank - 1];
}

export function summarize(xs: readonly number[]): Summary {
  const s = sortedFinite(xs);
  if (s.length === 0) throw new RangeError('summary of no samples');
  return { n: s.length, min: s[0], median: median(s), p90: percentile(s, 90), max: s[s.length - 1] };
}

/** Milliseconds elapsed since `start` (a process.hrtime.bigint() value). */
export function msSince(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6;
}

/** Runs `fn` and returns its result with its wall time in milliseconds. */
export async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const start = process.hrtime.bigint();
  const value = await fn();
  return { value, ms: msSince(start) };
}
