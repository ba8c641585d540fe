import t from 'tap';
import { msToNs, nowNs, unixNanoNumber } from '../../../common/time';

t.test('unixNanoNumber: ms since the epoch in Unix nanoseconds, as a number', async (t) => {
  t.equal(unixNanoNumber(1_234), 1_234_000_000);
  t.equal(unixNanoNumber(0), 0);
  // Today's time: within one ms of the exact BigInt product.
  const ms = Date.UTC(2026, 11, 5, 12, 0, 0, 123);
  t.ok(Math.abs(Number(BigInt(ms) * 1_000_000n - BigInt(unixNanoNumber(ms)))) < 1_000_000, 'no rounding beyond the ms clock');
  const before = Date.now();
  const now = unixNanoNumber();
  t.ok(now >= before * 1e6 && now <= Date.now() * 1e6, 'defaults to now');
});

t.test('msToNs and nowNs: the decimal strings CRI carries', async (t) => {
  t.equal(msToNs(1_234), '1234000000');
  t.equal(msToNs(new Date(5)), '5000000');
  t.equal(msToNs(1.9), '1000000', 'a fractional ms is truncated');
  t.match(nowNs(), /^\d{19}$/);
});
