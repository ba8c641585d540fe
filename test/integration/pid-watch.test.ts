// watchPidExit (host/pid-watch.ts) with real processes and the real addon:
// the runc live state relies on it to learn that a container's init exited
// when conmon did not say so (conmon killed first).

import { spawn } from 'node:child_process';
import t from 'tap';
import { watchPidExit } from '../../src/host/pid-watch';

function exited(): { promise: Promise<void>; onExit: () => void; calls: () => number } {
  let calls = 0;
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return {
    promise,
    onExit: () => {
      calls++;
      resolve();
    },
    calls: () => calls,
  };
}

async function within(p: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms)));
  try {
    return await Promise.race([p.then(() => true), late]);
  } finally {
    clearTimeout(timer);
  }
}

t.test('onExit is called once when the watched process is killed', async (t) => {
  const child = spawn('sleep', ['60']);
  t.teardown(() => child.kill('SIGKILL'));
  const e = exited();
  const w = watchPidExit(child.pid!, e.onExit);
  t.ok(w && w !== 'gone', 'a watch of a live process (the addon is built by scripts/setup)');
  t.equal(e.calls(), 0, 'not called while it runs');
  await new Promise((r) => setTimeout(r, 200));
  t.equal(e.calls(), 0, 'still not called 200 ms later');
  child.kill('SIGKILL');
  t.ok(await within(e.promise, 10_000), 'called after the kill');
  await new Promise((r) => setTimeout(r, 100));
  t.equal(e.calls(), 1, 'once');
  if (w && w !== 'gone') w.close();
});

t.test('a closed watch never calls onExit', async (t) => {
  const child = spawn('sleep', ['60']);
  t.teardown(() => child.kill('SIGKILL'));
  const e = exited();
  const w = watchPidExit(child.pid!, e.onExit);
  if (!w || w === 'gone') {
    t.fail('no watch');
    return;
  }
  w.close();
  w.close();
  child.kill('SIGKILL');
  await new Promise<void>((r) => child.once('exit', () => r()));
  t.notOk(await within(e.promise, 500), 'not called after close');
});

t.test('a process that does not exist is gone at once', async (t) => {
  // Above the largest pid_max Linux allows (2^22): never a live process.
  t.equal(
    watchPidExit(4_194_305, () => t.fail('called')),
    'gone',
  );
  t.equal(
    watchPidExit(0, () => t.fail('called')),
    'gone',
  );
});
