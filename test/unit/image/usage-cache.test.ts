import t from 'tap';
import type { Usage } from '../../../src/image/usage';
import { UsageCache } from '../../../src/image/usage-cache';

/** A walk the test completes by hand, counting how many were started. */
function manualWalk() {
  const pending: { path: string; resolve: (u: Usage) => void; reject: (e: Error) => void }[] = [];
  let started = 0;
  return {
    pending,
    started: () => started,
    walk: (path: string) =>
      new Promise<Usage>((resolve, reject) => {
        started++;
        pending.push({ path, resolve, reject });
      }),
  };
}

const flush = () => new Promise((r) => setImmediate(r));

t.test('concurrent callers share one walk; a fresh value is answered without walking', async (t) => {
  const w = manualWalk();
  let now = 1000;
  const c = new UsageCache({ walk: w.walk, now: () => now, freshMs: 10_000 });
  const a = c.get('/x');
  const b = c.get('/x');
  await flush();
  t.equal(w.started(), 1, 'one walk for two callers');
  w.pending.shift()!.resolve({ bytes: 10, inodes: 1 });
  t.same(await a, { bytes: 10, inodes: 1 });
  t.same(await b, { bytes: 10, inodes: 1 });
  now += 5000;
  t.same(await c.get('/x'), { bytes: 10, inodes: 1 });
  t.equal(w.started(), 1, 'fresh: no walk');
});

t.test('a stale value is answered at once while one walk refreshes it', async (t) => {
  const w = manualWalk();
  let now = 0;
  const c = new UsageCache({ walk: w.walk, now: () => now, freshMs: 100 });
  const first = c.get('/x');
  w.pending.shift()!.resolve({ bytes: 1, inodes: 1 });
  await first;
  now = 500;
  t.same(await c.get('/x'), { bytes: 1, inodes: 1 }, 'stale value, no waiting');
  t.same(await c.get('/x'), { bytes: 1, inodes: 1 });
  t.equal(w.started(), 2, 'one refresh for both stale callers');
  w.pending.shift()!.resolve({ bytes: 2, inodes: 2 });
  await flush();
  t.same(await c.get('/x'), { bytes: 2, inodes: 2 }, 'refreshed');
  now = 1000;
  await c.get('/x');
  w.pending.shift()!.reject(new Error('EIO'));
  await flush();
  t.same(await c.get('/x'), { bytes: 2, inodes: 2 }, 'a failed background refresh keeps the old value');
});

t.test('the first walk failing is the caller’s error and is not cached; paths are bounded; forget drops', async (t) => {
  const w = manualWalk();
  const c = new UsageCache({ walk: w.walk, maxPaths: 2 });
  const p = c.get('/gone');
  w.pending.shift()!.reject(new Error('ENOENT'));
  await t.rejects(p, /ENOENT/);
  t.equal(c.size, 0, 'nothing remembered of a failed first walk');
  for (const path of ['/a', '/b', '/c']) {
    const g = c.get(path);
    w.pending.shift()!.resolve({ bytes: 1, inodes: 1 });
    await g;
  }
  t.equal(c.size, 2, 'at most maxPaths remembered');
  c.forget('/c');
  t.equal(c.size, 1);
});

t.test('background refreshes run at most maxBackgroundWalks at once; a stale value asked meanwhile is answered and refreshed later', async (t) => {
  const w = manualWalk();
  let now = 0;
  const c = new UsageCache({ walk: w.walk, now: () => now, freshMs: 1000, maxBackgroundWalks: 2 });
  const paths = ['/a', '/b', '/c', '/d'];
  const first = paths.map((p) => c.get(p));
  await flush();
  t.equal(w.started(), 4, 'first walks (a caller waits for each) are not limited');
  for (const p of w.pending.splice(0)) p.resolve({ bytes: 1, inodes: 1 });
  await Promise.all(first);
  now = 5000;
  const stale = await Promise.all(paths.map((p) => c.get(p)));
  t.same(
    stale,
    paths.map(() => ({ bytes: 1, inodes: 1 })),
    'every stale value answered at once',
  );
  await flush();
  t.equal(w.started(), 6, 'two refreshes started, not four');
  t.equal(c.refreshing, 2);
  t.same(
    w.pending.map((p) => p.path),
    ['/a', '/b'],
  );
  for (const p of w.pending.splice(0)) p.resolve({ bytes: 2, inodes: 2 });
  await flush();
  t.equal(c.refreshing, 0, 'done: nothing counted as running');
  t.same(await c.get('/a'), { bytes: 2, inodes: 2 }, 'refreshed');
  t.same(await c.get('/c'), { bytes: 1, inodes: 1 }, 'still stale, answered as is');
  await flush();
  t.equal(w.started(), 7, 'and its refresh starts now that a slot is free');
  t.equal(w.pending[0].path, '/c');
  w.pending.shift()!.reject(new Error('gone'));
  await flush();
  t.equal(c.refreshing, 0, 'a failed refresh frees its slot');
  t.same(await c.get('/c'), { bytes: 1, inodes: 1 }, 'and keeps the old value');
});
