import t from 'tap';
import { median, percentile, summarize } from '../../../../bench/lib/stats';

const medians: Array<{ desc: string; xs: number[]; want: number }> = [
  { desc: 'one sample is its own median', xs: [7], want: 7 },
  { desc: 'odd count takes the middle after sorting', xs: [9, 1, 5], want: 5 },
  { desc: 'even count averages the two middle samples', xs: [4, 1, 3, 2], want: 2.5 },
  { desc: 'an outlier does not move it', xs: [10, 11, 12, 5000], want: 11.5 },
  { desc: 'negative and fractional samples', xs: [-1.5, 0.5, 2], want: 0.5 },
];
for (const c of medians) t.test(`median: ${c.desc}`, async (t) => t.equal(median(c.xs), c.want));

const pct: Array<{ desc: string; xs: number[]; p: number; want: number }> = [
  { desc: 'p0 is the minimum', xs: [3, 1, 2], p: 0, want: 1 },
  { desc: 'p100 is the maximum', xs: [3, 1, 2], p: 100, want: 3 },
  { desc: 'p90 of ten samples is the ninth (nearest rank)', xs: [10, 9, 8, 7, 6, 5, 4, 3, 2, 1], p: 90, want: 9 },
  { desc: 'p50 of four samples is the second, never an interpolation', xs: [1, 2, 3, 4], p: 50, want: 2 },
  { desc: 'p90 of three samples is the last', xs: [1, 2, 3], p: 90, want: 3 },
];
for (const c of pct) t.test(`percentile: ${c.desc}`, async (t) => t.equal(percentile(c.xs, c.p), c.want));

const bad: Array<{ desc: string; fn: () => unknown; msg: RegExp }> = [
  { desc: 'median of nothing', fn: () => median([]), msg: /no samples/ },
  { desc: 'percentile of nothing', fn: () => percentile([], 50), msg: /no samples/ },
  { desc: 'percentile above 100', fn: () => percentile([1], 101), msg: /outside/ },
  { desc: 'percentile NaN', fn: () => percentile([1], NaN), msg: /outside/ },
  { desc: 'a NaN sample', fn: () => median([1, NaN]), msg: /not a finite number/ },
  { desc: 'an infinite sample', fn: () => summarize([Infinity]), msg: /not a finite number/ },
  { desc: 'summary of nothing', fn: () => summarize([]), msg: /no samples/ },
];
for (const c of bad) t.test(`rejects ${c.desc}`, async (t) => t.throws(c.fn, { message: c.msg }));

t.test('summarize reports n, min, median, p90, max and leaves the input unsorted', async (t) => {
  const xs = [5, 1, 4, 2, 3];
  t.same(summarize(xs), { n: 5, min: 1, median: 3, p90: 5, max: 5 });
  t.same(xs, [5, 1, 4, 2, 3]);
});
