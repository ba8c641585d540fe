import t from 'tap';
import { formatBytes, formatMbps, formatMs, formatRatio, renderTable } from '../../../../bench/lib/format';

const ms: Array<{ desc: string; in: number; want: string }> = [
  { desc: 'sub-millisecond keeps two decimals', in: 0.4242, want: '0.42 ms' },
  { desc: 'single-digit milliseconds', in: 4.5, want: '4.50 ms' },
  { desc: 'tens of milliseconds keep one decimal', in: 12.34, want: '12.3 ms' },
  { desc: 'hundreds of milliseconds are whole', in: 842.4, want: '842 ms' },
  { desc: 'seconds with two decimals', in: 1240, want: '1.24 s' },
  { desc: 'tens of seconds with one decimal', in: 63_040, want: '63.0 s' },
  { desc: 'not a number stays visible', in: NaN, want: 'NaN' },
];
for (const c of ms) t.test(`formatMs: ${c.desc}`, async (t) => t.equal(formatMs(c.in), c.want));

const mbps: Array<{ desc: string; in: number; want: string }> = [
  { desc: 'below ten keeps two decimals', in: 0.824, want: '0.82 MB/s' },
  { desc: 'tens keep one decimal', in: 38.66, want: '38.7 MB/s' },
  { desc: 'hundreds are whole', in: 505.4, want: '505 MB/s' },
  { desc: 'not a number stays visible', in: NaN, want: 'NaN' },
];
for (const c of mbps) t.test(`formatMbps: ${c.desc}`, async (t) => t.equal(formatMbps(c.in), c.want));

const ratios: Array<{ desc: string; a: number | undefined; b: number | undefined; want: string }> = [
  { desc: 'plain ratio', a: 300, b: 200, want: '1.50x' },
  { desc: 'faster than the reference', a: 50, b: 200, want: '0.25x' },
  { desc: 'ten times or more keeps one decimal', a: 1900, b: 100, want: '19.0x' },
  { desc: 'missing numerator', a: undefined, b: 1, want: 'n/a' },
  { desc: 'missing denominator', a: 1, b: undefined, want: 'n/a' },
  { desc: 'zero denominator', a: 1, b: 0, want: 'n/a' },
  { desc: 'infinite numerator', a: Infinity, b: 1, want: 'n/a' },
];
for (const c of ratios) t.test(`formatRatio: ${c.desc}`, async (t) => t.equal(formatRatio(c.a, c.b), c.want));

const bytes: Array<{ desc: string; in: number; want: string }> = [
  { desc: 'bytes', in: 512, want: '512 B' },
  { desc: 'kibibytes', in: 3482, want: '3.40 KiB' },
  { desc: 'mebibytes', in: 118 * 2 ** 20, want: '118 MiB' },
  { desc: 'gibibytes', in: 1.2 * 2 ** 30, want: '1.20 GiB' },
];
for (const c of bytes) t.test(`formatBytes: ${c.desc}`, async (t) => t.equal(formatBytes(c.in), c.want));

t.test('renderTable aligns labels left and numbers right, pads short rows', async (t) => {
  const out = renderTable(
    ['phase', 'a', 'b'],
    [
      ['run', '1 ms', '20 ms'],
      ['exec', '300 ms'],
    ],
  );
  t.equal(out, ['phase       a      b', '-----  ------  -----', 'run      1 ms  20 ms', 'exec   300 ms'].join('\n'));
});

t.test('renderTable honours an explicit alignment', async (t) => {
  const out = renderTable(['x', 'y'], [['1', 'long']], ['right', 'left']);
  t.equal(out, ['x  y', '-  ----', '1  long'].join('\n'));
});
