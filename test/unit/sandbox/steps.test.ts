// The one phased-start primitive (src/sandbox/steps.ts) that RunPodSandbox,
// CreateContainer, the runc pod start and the pod VM start share: named
// steps, each completed one timed and reported, and on a failure the
// completed steps undone newest first and an error that names the step and
// keeps the failure's class (so its gRPC status).

import t from 'tap';
import { InternalError, NotFoundError, ResourceExhaustedError } from '../../../common/errors';
import { silentLogger } from '../../../src/log';
import { restated, Steps, wrapStepError } from '../../../src/sandbox/steps';

t.test('completed steps are undone newest first, and the error names the failed step', async (t) => {
  const undone: string[] = [];
  const steps = new Steps('pod start', silentLogger);
  t.equal(
    await steps.run(
      'a',
      async () => 1,
      async (v) => void undone.push(`a:${v}`),
    ),
    1,
    'a step returns its value',
  );
  await steps.run('b', async () => 'x'); // no rollback
  await steps.run(
    'c',
    async () => 3,
    async (v) => void undone.push(`c:${v}`),
  );
  let ranD = false;
  const failing = steps.run('d', async () => {
    ranD = true;
    throw new NotFoundError('image', 'busybox');
  });
  await t.rejects(failing, { constructor: NotFoundError, message: /^pod start: step "d" failed: image "busybox" not found/ }, 'same class, step named');
  t.ok(ranD, 'the failing step ran');
  t.same(undone, ['c:3', 'a:1'], "each rollback gets its step's value, newest first");
  t.same(Object.keys(steps.timings), ['a', 'b', 'c'], 'only completed steps are timed');
});

t.test('a rollback that fails does not stop the others or hide the failure', async (t) => {
  const undone: string[] = [];
  const steps = new Steps('vm start', silentLogger);
  await steps.run(
    'one',
    async () => undefined,
    async () => void undone.push('one'),
  );
  await steps.run(
    'two',
    async () => undefined,
    async () => Promise.reject(new Error('tap busy')),
  );
  await t.rejects(
    steps.run('three', async () => Promise.reject(new Error('qemu exited'))),
    { constructor: InternalError, message: 'vm start: step "three" failed: qemu exited' },
    'an untyped failure is INTERNAL, named by its step',
  );
  t.same(undone, ['one'], 'the older step was still undone');
});

t.test('errorFor and the phase observer', async (t) => {
  const seen: [string, string, number][] = [];
  const steps = new Steps('container create', silentLogger, {
    errorFor: (step, err) => new ResourceExhaustedError(`${step}: ${(err as Error).message}`),
    phases: { operation: 'create_container', observer: { phaseDone: (op, step, s) => void seen.push([op, step, s]) } },
  });
  await steps.run('rootfs', async () => undefined);
  await t.rejects(
    steps.run('spec', async () => Promise.reject(new Error('ENOSPC'))),
    { constructor: ResourceExhaustedError, message: 'spec: ENOSPC' },
    'errorFor decides the error',
  );
  t.same(
    seen.map(([op, step]) => [op, step]),
    [['create_container', 'rootfs']],
    'the observer hears each completed step under its operation, not the failed one',
  );
  t.ok(seen[0][2] >= 0, 'in seconds');
});

t.test('restated and wrapStepError keep a typed error and wrap anything else as INTERNAL', async (t) => {
  const typed = new NotFoundError('pod sandbox', '1');
  t.equal(restated(typed, 'x: gone'), typed, 'the same typed error');
  t.equal(typed.message, 'x: gone', 'with the new message');
  const plain = new Error('boom');
  const wrapped = restated(plain, 'y: boom');
  t.ok(wrapped instanceof InternalError, 'an untyped error becomes INTERNAL');
  t.equal(wrapped.cause, plain, 'and keeps the original as its cause');
  t.match(wrapStepError('run pod', 'network-setup', 'a string'), { constructor: InternalError, message: 'run pod: step "network-setup" failed: a string' }, 'even a thrown string');
});

t.test('steps run at once: values in order, each timed, undone with the rest', async (t) => {
  const undone: string[] = [];
  const steps = new Steps('pod start', silentLogger);
  await steps.run(
    'first',
    async () => 0,
    async () => void undone.push('first'),
  );
  const [a, b] = await steps.all([
    { name: 'a', run: async () => 'x', rollback: async (v: string) => void undone.push(`a:${v}`) },
    { name: 'b', run: async () => 2, rollback: async (v: number) => void undone.push(`b:${v}`) },
  ] as const);
  t.same([a, b], ['x', 2], 'values in the order given');
  t.same(Object.keys(steps.timings), ['first', 'a', 'b'], 'each timed');
  await t.rejects(
    steps.run('last', async () => Promise.reject(new Error('disk full'))),
    /step "last" failed: disk full/,
  );
  t.same(undone, ['b:2', 'a:x', 'first'], 'undone newest first, the parallel ones in reverse of the order given');
});

t.test('a parallel step that fails: nothing is undone before its sibling settled; the first failed in order is named', async (t) => {
  const events: string[] = [];
  const steps = new Steps('pod start', silentLogger);
  await steps.run(
    'netns',
    async () => undefined,
    async () => void events.push('undo netns'),
  );
  let finishSlow!: () => void;
  const slow = new Promise<void>((res) => (finishSlow = res));
  const all = steps.all([
    { name: 'slow', run: () => slow.then(() => void events.push('slow done')), rollback: async () => void events.push('undo slow') },
    { name: 'fails', run: async () => Promise.reject(new NotFoundError('image', 'busybox')) },
    { name: 'fails too', run: async () => Promise.reject(new Error('later in order')) },
  ] as const);
  await new Promise((r) => setImmediate(r));
  t.same(events, [], 'no undo while "slow" runs');
  finishSlow();
  await t.rejects(all, { constructor: NotFoundError, message: /^pod start: step "fails" failed: image "busybox" not found/ }, 'the first failure in the order given, its class kept');
  t.same(events, ['slow done', 'undo slow', 'undo netns'], 'then the one that completed and the earlier step are undone');
  t.same(Object.keys(steps.timings), ['netns', 'slow'], 'failed steps are not timed');
});
