import t from 'tap';
import { roundOrder } from '../../../../bench/lib/interleave';

const cases: Array<{ desc: string; xs: string[]; r: number; want: string[] }> = [
  { desc: 'even rounds keep the order', xs: ['vmpod', 'containerd'], r: 0, want: ['vmpod', 'containerd'] },
  { desc: 'odd rounds reverse it', xs: ['vmpod', 'containerd'], r: 1, want: ['containerd', 'vmpod'] },
  { desc: 'and back again', xs: ['a', 'b', 'c'], r: 2, want: ['a', 'b', 'c'] },
  { desc: 'one side stays', xs: ['a'], r: 3, want: ['a'] },
];
for (const c of cases) t.test(c.desc, async (t) => t.same(roundOrder(c.xs, c.r), c.want));

t.test('the input is never reordered in place', async (t) => {
  const xs = ['a', 'b'];
  roundOrder(xs, 1).push('c');
  t.same(xs, ['a', 'b']);
});
