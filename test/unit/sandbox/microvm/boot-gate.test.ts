import t from 'tap';
import { BootGate } from '../../../../src/sandbox/microvm/boot-gate';

const tick = () => new Promise((r) => setImmediate(r));

t.test('at most `limit` inside; the others wait and go in arrival order', async (t) => {
  const gate = new BootGate(2);
  const release: Array<() => void> = [];
  const entered: number[] = [];
  const runs = [0, 1, 2, 3].map((i) =>
    gate.run(async () => {
      entered.push(i);
      await new Promise<void>((r) => release.push(r));
      return i;
    }),
  );
  await tick();
  t.same(entered, [0, 1], 'two inside');
  t.same(gate.load, { inside: 2, waiting: 2 });
  release[1]();
  await tick();
  await tick();
  t.same(entered, [0, 1, 2], 'a freed slot goes to the first waiter');
  release[0]();
  release[2]();
  await tick();
  await tick();
  release[3]();
  t.same(await Promise.all(runs), [0, 1, 2, 3], 'every result comes back');
  t.same(gate.load, { inside: 0, waiting: 0 }, 'all slots free again');
});

t.test('a failing caller gives its slot back', async (t) => {
  const gate = new BootGate(1);
  await t.rejects(
    gate.run(async () => {
      throw new Error('boot failed');
    }),
    /boot failed/,
  );
  t.equal(await gate.run(async () => 'next'), 'next', 'the next caller gets in');
  t.same(gate.load, { inside: 0, waiting: 0 });
});

t.test('releasing twice frees one slot only', async (t) => {
  const gate = new BootGate(1);
  const release = await gate.acquire();
  const second = gate.acquire();
  release();
  release();
  const r2 = await second;
  t.same(gate.load, { inside: 1, waiting: 0 }, 'the second holds the only slot');
  r2();
  t.same(gate.load, { inside: 0, waiting: 0 });
});

t.test('the limit must be a positive integer', async (t) => {
  t.throws(() => new BootGate(0), RangeError);
  t.throws(() => new BootGate(1.5), RangeError);
});
