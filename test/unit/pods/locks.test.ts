import t from 'tap';
import { KeyedLock } from '../../../src/pods/locks';

const tick = () => new Promise((r) => setTimeout(r, 5));

t.test('one operation at a time per key, keys independent', async (t) => {
  const lock = new KeyedLock();
  const events: string[] = [];
  const op = (key: string, name: string) =>
    lock.run(key, async () => {
      events.push(`${name}:start`);
      await tick();
      events.push(`${name}:end`);
    });
  await Promise.all([op('a', 'a1'), op('a', 'a2'), op('b', 'b1')]);
  t.ok(events.indexOf('a1:end') < events.indexOf('a2:start'), 'same key serialized in call order');
  t.ok(events.indexOf('b1:start') < events.indexOf('a1:end'), 'other key not blocked');
  t.equal(lock.size, 0, 'nothing kept once every operation is done');
});

t.test('a failing operation releases the lock', async (t) => {
  const lock = new KeyedLock();
  await t.rejects(
    lock.run('k', async () => {
      throw new Error('boom');
    }),
    /boom/,
  );
  t.equal(await lock.run('k', async () => 7), 7, 'next operation runs');
  t.equal(lock.size, 0, 'and nothing is kept');
});
