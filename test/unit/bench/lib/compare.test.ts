import t from 'tap';
import { MBPS, measured, medianOf, renderComparison, unavailable } from '../../../../bench/lib/compare';

t.test('medianOf', async (t) => {
  const cases = [
    { desc: 'measured samples give their median', o: measured([3, 1, 2]), want: 2 },
    { desc: 'an unavailable side has none', o: unavailable('UNIMPLEMENTED: x'), want: undefined },
    { desc: 'no samples has none', o: measured([]), want: undefined },
  ];
  for (const c of cases) t.equal(medianOf(c.o), c.want, c.desc);
});

t.test('both sides measured: medians with n and the ratio first / second', async (t) => {
  const out = renderComparison(['vmpod', 'containerd'], [{ label: 'start', outcomes: [measured([30, 10, 20]), measured([10, 10, 10])] }]);
  t.match(out, /start\s+20\.0 ms \(n=3\)\s+10\.0 ms \(n=3\)\s+2\.00x/);
  t.match(out, /vmpod \/ containerd/);
  t.notMatch(out, /not available/);
});

t.test('an unavailable side says so with the reason, once, and never shows a number or ratio', async (t) => {
  const why = 'UNIMPLEMENTED: RuntimeService/RunPodSandbox is not implemented by vmpod yet';
  const out = renderComparison(
    ['vmpod', 'containerd'],
    [
      { label: 'start', outcomes: [unavailable(why), measured([10])] },
      { label: 'exec', outcomes: [unavailable(why), measured([5])] },
    ],
  );
  t.match(out, /start\s+not available\s+10\.0 ms \(n=1\)\s+n\/a/);
  t.equal(out.split(`vmpod: not available: ${why}`).length - 1, 1, 'reason listed once');
});

t.test('a comparison of fewer than two systems is refused', async (t) => {
  t.throws(() => renderComparison(['vmpod'], []), { message: /at least two/ });
});

t.test('the throughput format with spread: MB/s cells with min–p90 and the ratio first / second', async (t) => {
  const out = renderComparison(['vmpod', 'containerd'], [{ label: 'GET', outcomes: [measured([40, 20, 30]), measured([10, 10, 10])] }], { ...MBPS, spread: true });
  t.match(out, /GET\s+30\.0 MB\/s \(20\.0 MB\/s–40\.0 MB\/s, n=3\)\s+10\.0 MB\/s \(10\.0 MB\/s–10\.0 MB\/s, n=3\)\s+3\.00x/);
  t.match(out, /median \(min–p90\)/);
  t.notMatch(out, / ms/);
});
