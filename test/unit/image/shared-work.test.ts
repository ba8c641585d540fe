// SharedWork: one piece of work per key for every caller that waits for it;
// a caller that gives up leaves at once, and the work is aborted only when
// the last one has left, or when the owner closes.

import t from 'tap';
import { SharedWork } from '../../../src/image/shared-work';

/** Work that runs until released or aborted, and says which happened. */
function gate(): { fn: (signal: AbortSignal) => Promise<string>; release(v: string): void; starts: number; signals: AbortSignal[]; ended: Promise<'released' | 'aborted'> } {
  let release!: (v: string) => void;
  let ended!: (how: 'released' | 'aborted') => void;
  const g = {
    starts: 0,
    signals: [] as AbortSignal[],
    ended: new Promise<'released' | 'aborted'>((r) => (ended = r)),
    release: (v: string) => release(v),
    fn: (signal: AbortSignal) => {
      g.starts++;
      g.signals.push(signal);
      return new Promise<string>((resolve, reject) => {
        release = (v) => {
          ended('released');
          resolve(v);
        };
        signal.addEventListener('abort', () => {
          ended('aborted');
          reject(new Error('work aborted'));
        });
      });
    },
  };
  return g;
}

t.test('concurrent callers of one key share one run and its result', async (t) => {
  const w = new SharedWork();
  const g = gate();
  const a = w.run('k', g.fn);
  const b = w.run('k', g.fn);
  g.release('done');
  t.same(await Promise.all([a, b]), ['done', 'done']);
  t.equal(g.starts, 1, 'started once');
  t.same(w.keys(), [], 'forgotten once ended');
});

t.test('a caller that cancels leaves at once; the work goes on while another still waits', async (t) => {
  const w = new SharedWork();
  const g = gate();
  const first = new AbortController();
  const a = w.run('k', g.fn, first.signal);
  const b = w.run('k', g.fn, new AbortController().signal);
  const reason = new Error('client deadline');
  first.abort(reason);
  await t.rejects(a, reason, "the first caller's promise rejects with its own reason, before the work ends");
  t.notOk(g.signals[0].aborted, 'the work is not aborted: someone still waits');
  g.release('done');
  t.equal(await b, 'done', 'the second caller gets the result');
  t.equal(await g.ended, 'released');
});

t.test('the work is aborted when the last waiter leaves, and a later caller starts it afresh', async (t) => {
  const w = new SharedWork();
  const g1 = gate();
  const c1 = new AbortController();
  const c2 = new AbortController();
  const a = w.run('k', g1.fn, c1.signal);
  const b = w.run('k', g1.fn, c2.signal);
  c1.abort(new Error('one'));
  c2.abort(new Error('two'));
  await t.rejects(a, { message: 'one' });
  await t.rejects(b, { message: 'two' });
  t.ok(g1.signals[0].aborted, 'aborted when nobody waits any more');
  t.equal((g1.signals[0].reason as Error).message, 'two', "with the last waiter's reason");
  t.same(w.keys(), [], 'abandoned work is not joinable');
  const g2 = gate();
  const c = w.run('k', g2.fn);
  t.equal(g2.starts, 1, 'a new caller starts new work rather than joining the dying one');
  g2.release('fresh');
  t.equal(await c, 'fresh');
  await w.abandonedSettled();
  t.equal(await g1.ended, 'aborted', 'abandonedSettled waited for the aborted work to end');
});

t.test('abandonedSettled waits for aborted work that takes a while to clean up', async (t) => {
  const w = new SharedWork();
  let cleaned = false;
  let finishCleanup!: () => void;
  const c = new AbortController();
  const p = w.run(
    'k',
    (signal) =>
      new Promise<void>((_resolve, reject) => {
        signal.addEventListener('abort', () => {
          finishCleanup = () => {
            cleaned = true;
            reject(new Error('stopped'));
          };
        });
      }),
    c.signal,
  );
  c.abort(new Error('gone'));
  await t.rejects(p, { message: 'gone' });
  let settled = false;
  const s = w.abandonedSettled().then(() => (settled = true));
  await new Promise((r) => setImmediate(r));
  t.notOk(settled, 'not settled while the work is still cleaning up');
  finishCleanup();
  await s;
  t.ok(cleaned, 'settled after the clean-up');
});

t.test('a caller whose signal is already aborted never starts the work', async (t) => {
  const w = new SharedWork();
  const g = gate();
  const c = new AbortController();
  c.abort(new Error('too late'));
  await t.rejects(w.run('k', g.fn, c.signal), { message: 'too late' });
  t.equal(g.starts, 0);
});

t.test("the work's failure reaches every waiter", async (t) => {
  const w = new SharedWork();
  const fail = (): Promise<never> => Promise.reject(new Error('registry down'));
  await t.rejects(Promise.all([w.run('k', fail), w.run('k', fail)]), { message: 'registry down' });
  const sync = (): Promise<never> => {
    throw new Error('thrown at once');
  };
  await t.rejects(w.run('j', sync), { message: 'thrown at once' }, 'a synchronous throw is a rejection too');
});

t.test('close aborts all work, rejects every waiter with its reason and refuses new work', async (t) => {
  const w = new SharedWork();
  const g1 = gate();
  const g2 = gate();
  const a = w.run('a', g1.fn, new AbortController().signal);
  const b = w.run('b', g2.fn);
  const reason = new Error('daemon shutting down');
  const closed = w.close(reason);
  await t.rejects(a, reason);
  await t.rejects(b, reason);
  await closed;
  t.equal(await g1.ended, 'aborted');
  t.equal(await g2.ended, 'aborted');
  await t.rejects(w.run('c', gate().fn), reason, 'no new work after close');
});

t.test("a waiter's abort listener is removed once the work ends (a long-lived signal does not collect them)", async (t) => {
  const w = new SharedWork();
  const c = new AbortController();
  let added = 0;
  let removed = 0;
  const add = c.signal.addEventListener.bind(c.signal);
  const remove = c.signal.removeEventListener.bind(c.signal);
  c.signal.addEventListener = (...args: Parameters<typeof add>) => {
    added++;
    add(...args);
  };
  c.signal.removeEventListener = (...args: Parameters<typeof remove>) => {
    removed++;
    remove(...args);
  };
  for (let i = 0; i < 5; i++) await w.run(`k${i}`, () => Promise.resolve(i), c.signal);
  t.equal(added, 5);
  t.equal(removed, 5);
});
