import t from 'tap';
import { Cleanup } from '../../../../bench/lib/cleanup';

t.test('steps run last-in first-out, once, and failures are collected without stopping the rest', async (t) => {
  const c = new Cleanup();
  const order: string[] = [];
  c.add('first', () => order.push('first'));
  c.add('broken', () => {
    throw new Error('boom');
  });
  c.teardown(async () => order.push('helper'));
  const failures = await c.run();
  t.same(order, ['helper', 'first']);
  t.same(failures, ['broken: boom']);
  t.same(await c.run(), ['broken: boom'], 'a second run returns the same result');
  t.same(order, ['helper', 'first'], 'and runs nothing again');
});

t.test('adding a step while cleaning up is refused', async (t) => {
  const c = new Cleanup();
  void c.run();
  t.throws(() => c.add('late', () => undefined), { message: /late/ });
});
