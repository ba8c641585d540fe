import t from 'tap';
import { MessageCache } from '../../../../src/cri/runtime/message-cache';
import type { ContainerProcessState } from '../../../../src/sandbox/controller';
import { podFixture } from '../../pods/fixture';

t.test('one message per record object, frozen; a new record object (any change) gets a new message', async (t) => {
  let built = 0;
  const cache = new MessageCache((r: { id: string; state: string }) => (built++, { id: r.id, state: r.state }));
  const r1 = Object.freeze({ id: 'a', state: 'RUNNING' });
  const m1 = cache.of(r1);
  t.equal(cache.of(r1), m1, 'same record: same message');
  t.equal(built, 1, 'built once');
  t.ok(Object.isFrozen(m1), 'frozen: shared by every answer');
  const r2 = Object.freeze({ ...r1, state: 'EXITED' });
  t.same(cache.of(r2), { id: 'a', state: 'EXITED' }, 'the changed record has its own message');
  t.equal(built, 2);
});

const running: ContainerProcessState = { state: 'running', exitCode: 0, finishedAt: '0', oomKilled: false };

t.test('ListContainers, ContainerStatus and ListPodSandbox: a change is seen by the next call', async (t) => {
  const states = new Map<string, ContainerProcessState>();
  const f = podFixture(t, { controller: { containerState: async (_sb, c) => states.get(c.id) ?? running, sandboxReady: async () => true } });
  f.addPod('p1');
  f.addContainer('c1', 'p1', 'CONTAINER_RUNNING');
  f.addContainer('c2', 'p1', 'CONTAINER_RUNNING');
  const list = async () => ((await f.h.ListContainers({ filter: null }, {} as never)) as { containers: Array<{ id: string; state: string; exit_code?: number }> }).containers;
  const status = async (id: string) => ((await f.h.ContainerStatus({ container_id: id, verbose: false }, {} as never)) as { status: { state: string; exit_code: number; reason: string } }).status;

  const first = await list();
  t.same(
    first.map((c) => c.state),
    ['CONTAINER_RUNNING', 'CONTAINER_RUNNING'],
  );
  const again = await list();
  t.equal(again[0], first[0], 'unchanged: the same message object (built once)');
  t.equal(await status('c1'), await status('c1'), 'ContainerStatus too');

  // The process exits; the controller says so when asked (no event): the next list records and reports it.
  states.set('c1', { state: 'exited', exitCode: 3, finishedAt: '5', oomKilled: false });
  const after = await list();
  t.match(
    after.find((c) => c.id === 'c1'),
    { state: 'CONTAINER_EXITED' },
    'the next ListContainers says EXITED',
  );
  t.equal(
    after.find((c) => c.id === 'c2'),
    first[1],
    'the other container keeps its message',
  );
  t.match(await status('c1'), { state: 'CONTAINER_EXITED', exit_code: 3, reason: 'Error' }, 'the next ContainerStatus says EXITED with the code');

  // A change made through the store (as StopContainer, UpdateContainerResources do) is seen at once too.
  f.containers.update('c2', (r) => ({ ...r, state: 'CONTAINER_EXITED', exitCode: 0, reason: 'Completed' }));
  t.match(await status('c2'), { state: 'CONTAINER_EXITED', reason: 'Completed' }, 'ContainerStatus after a store update');
  t.match(
    (await list()).find((c) => c.id === 'c2'),
    { state: 'CONTAINER_EXITED' },
    'ListContainers after a store update',
  );

  const pods = async () => ((await f.h.ListPodSandbox({ filter: null }, {} as never)) as { items: Array<{ id: string; state: string }> }).items;
  const p = await pods();
  t.equal((await pods())[0], p[0], 'an unchanged pod: the same message');
  f.sandboxes.update('p1', (r) => ({ ...r, state: 'SANDBOX_NOTREADY' }));
  t.match(await pods(), [{ id: 'p1', state: 'SANDBOX_NOTREADY' }], 'the next ListPodSandbox says NOTREADY');
});
