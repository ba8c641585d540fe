import t from 'tap';
import { inPool } from '../../../../bench/lib/pool';

const tick = () => new Promise((r) => setImmediate(r));

t.test('every item runs, never more than the limit at once', async (t) => {
  let inFlight = 0;
  let most = 0;
  const seen: number[] = [];
  await inPool([1, 2, 3, 4, 5, 6, 7], 3, async (x) => {
    inFlight++;
    most = Math.max(most, inFlight);
    await tick();
    seen.push(x);
    inFlight--;
  });
  t.same(
    seen.sort((a, b) => a - b),
    [1, 2, 3, 4, 5, 6, 7],
  );
  t.equal(most, 3);
});

t.test('the first error rejects, after the calls in flight settled, and no new item starts', async (t) => {
  const started: number[] = [];
  let settled = 0;
  await t.rejects(
    inPool([0, 1, 2, 3, 4, 5], 2, async (x) => {
      started.push(x);
      await tick();
      settled++;
      if (x === 1) throw new Error('boom');
    }),
    /boom/,
  );
  t.equal(settled, started.length, 'nothing still running when it rejects');
  t.ok(started.length < 6, 'items after the failure were not started');
});

t.test('no items: resolves; a limit below 1 is refused', async (t) => {
  await inPool([], 4, () => Promise.reject(new Error('not called')));
  await t.rejects(
    inPool([1], 0, async () => undefined),
    RangeError,
  );
});
