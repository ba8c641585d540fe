// Container events: the bounded broadcaster (fan-out, a slow subscriber
// dropped while the others keep receiving, shutdown), the transitions the
// lifecycle code publishes (over fake controllers, including an exit the
// controller reports while nobody calls), and the GetContainerEvents stream
// handler (converted messages, ended and unsubscribed on cancel).

import t from 'tap';
import { ResourceExhaustedError, UnavailableError } from '../../../common/errors';
import type { CallContext } from '../../../src/cri/handler';
import { eventStreams } from '../../../src/cri/runtime/events';
import type { ContainerEventResponse } from '../../../src/generated/cri/runtime/v1/ContainerEventResponse';
import { silentLogger } from '../../../src/log';
import { PodEvents, type EventSubscription, type PodEvent } from '../../../src/pods/events';
import type { ControllerEvent } from '../../../src/sandbox/controller';
import type { SandboxRecord } from '../../../src/store/sandbox';
import { podFixture } from './fixture';

function ev(containerId: string, type: PodEvent['type'] = 'CONTAINER_STARTED_EVENT'): PodEvent {
  return { containerId, type, createdAt: '1', pod: { id: 'p' } as SandboxRecord, containers: [] };
}

/** The next `n` events of a subscription. */
async function take(sub: EventSubscription, n: number): Promise<PodEvent[]> {
  const out: PodEvent[] = [];
  if (n === 0) return out;
  for await (const e of sub) {
    out.push(e);
    if (out.length === n) break;
  }
  return out;
}

t.test('broadcaster: every subscriber gets every event, in order', async (t) => {
  const b = new PodEvents();
  const a = b.subscribe();
  const c = b.subscribe();
  b.publish(ev('1'));
  b.publish(ev('2'));
  t.same(
    (await take(a, 2)).map((e) => e.containerId),
    ['1', '2'],
  );
  t.same(
    (await take(c, 2)).map((e) => e.containerId),
    ['1', '2'],
  );
  t.equal(b.subscribers, 0, 'a consumer that stops iterating is unsubscribed');
});

t.test('broadcaster: nothing is kept for later subscribers', async (t) => {
  const b = new PodEvents();
  b.publish(ev('before'));
  const s = b.subscribe();
  b.publish(ev('after'));
  t.same(
    (await take(s, 1)).map((e) => e.containerId),
    ['after'],
  );
});

t.test('broadcaster: a subscriber past its bound is dropped with RESOURCE_EXHAUSTED; the others keep receiving', async (t) => {
  const b = new PodEvents(3);
  const slow = b.subscribe();
  const fast = b.subscribe();
  const got: string[] = [];
  const reading = (async () => {
    for await (const e of fast) {
      got.push(e.containerId);
      if (got.length === 5) break;
    }
  })();
  for (let i = 1; i <= 5; i++) {
    b.publish(ev(String(i)));
    // Let the fast reader take each event as it comes.
    await new Promise((r) => setImmediate(r));
  }
  await reading;
  t.same(got, ['1', '2', '3', '4', '5'], 'the reading subscriber got everything');
  t.equal(b.subscribers, 0, 'the slow one is no longer subscribed (the fast one left)');
  const slowIter = slow[Symbol.asyncIterator]();
  await t.rejects(slowIter.next(), ResourceExhaustedError, 'the slow one ends with RESOURCE_EXHAUSTED, its backlog freed');
});

t.test('broadcaster: a subscriber at its bound but not past it keeps everything', async (t) => {
  const b = new PodEvents(2);
  const s = b.subscribe();
  b.publish(ev('1'));
  b.publish(ev('2'));
  t.same(
    (await take(s, 2)).map((e) => e.containerId),
    ['1', '2'],
  );
});

t.test('broadcaster: close ends every stream with UNAVAILABLE and refuses new ones', async (t) => {
  const b = new PodEvents();
  const s = b.subscribe();
  const waiting = s[Symbol.asyncIterator]().next();
  b.close();
  await t.rejects(waiting, UnavailableError);
  t.equal(b.subscribers, 0);
  await t.rejects(b.subscribe()[Symbol.asyncIterator]().next(), UnavailableError);
});

t.test('broadcaster: close() of a subscription ends a waiting reader without an error', async (t) => {
  const b = new PodEvents();
  const s = b.subscribe();
  const waiting = s[Symbol.asyncIterator]().next();
  s.close();
  t.same(await waiting, { value: undefined, done: true });
  t.equal(b.subscribers, 0);
});

t.test('lifecycle: one event per transition, pod events under the pod id, an unrequested exit pushed', async (t) => {
  let report: ((e: ControllerEvent) => void) | undefined;
  const { pods, addPod, addContainer } = podFixture(t, {
    controller: {
      onEvent: (cb) => {
        report = cb;
      },
      startContainer: async () => undefined,
      containerState: async () => ({ state: 'exited', exitCode: 3, finishedAt: '5', oomKilled: false }),
      stopContainer: async () => undefined,
      removeContainer: async () => undefined,
      stopSandbox: async () => undefined,
      removeSandbox: async () => undefined,
    },
  });
  addPod('pod-a');
  addContainer('c1', 'pod-a', 'CONTAINER_CREATED');
  addContainer('c2', 'pod-a', 'CONTAINER_CREATED');
  const sub = pods.subscribe();
  await pods.startContainer('c1');
  // Nobody calls: the controller reports the exit on its own.
  report!({ kind: 'container-exited', containerId: 'c1', state: { state: 'exited', exitCode: 3, finishedAt: '5', oomKilled: false } });
  // Reported twice (the event and a later refresh): still one STOPPED.
  report!({ kind: 'container-exited', containerId: 'c1', state: { state: 'exited', exitCode: 3, finishedAt: '5', oomKilled: false } });
  await pods.removeContainer('c1');
  await pods.stopPod('pod-a');
  await pods.removePod('pod-a');
  const got = await take(sub, 7);
  t.same(
    got.map((e) => `${e.containerId} ${e.type}`),
    [
      'c1 CONTAINER_STARTED_EVENT',
      'c1 CONTAINER_STOPPED_EVENT',
      'c1 CONTAINER_DELETED_EVENT',
      // Stopping the pod stops c2 (created: refreshed as exited).
      'c2 CONTAINER_STOPPED_EVENT',
      'pod-a CONTAINER_STOPPED_EVENT',
      'c2 CONTAINER_DELETED_EVENT',
      'pod-a CONTAINER_DELETED_EVENT',
    ],
  );
  const exit = got[1];
  t.equal(exit.pod.id, 'pod-a');
  t.same(
    exit.containers.map((c) => [c.id, c.state, c.exitCode]),
    [
      ['c1', 'CONTAINER_EXITED', 3],
      ['c2', 'CONTAINER_CREATED', 0],
    ],
    'the snapshot has the pod’s containers as they were',
  );
  t.notOk(
    got[2].containers.some((c) => c.id === 'c1'),
    'a deleted container is gone from its own event’s statuses',
  );
  t.equal(got[6].pod.state, 'SANDBOX_NOTREADY', 'a deleted pod’s event carries its last record');
  t.equal(pods.eventSubscribers(), 0);
});

t.test('lifecycle: a pod whose infra died is reported stopped once', async (t) => {
  let report: ((e: ControllerEvent) => void) | undefined;
  const { pods, addPod } = podFixture(t, {
    controller: {
      onEvent: (cb) => {
        report = cb;
      },
      stopSandbox: async () => undefined,
    },
  });
  addPod('pod-b');
  const sub = pods.subscribe();
  report!({ kind: 'sandbox-died', podSandboxId: 'pod-b', reason: 'killed' });
  await pods.stopPod('pod-b');
  sub.close();
  const got: PodEvent[] = [];
  for await (const e of sub) got.push(e);
  t.same(
    got.map((e) => `${e.containerId} ${e.type} ${e.pod.state}`),
    ['pod-b CONTAINER_STOPPED_EVENT SANDBOX_NOTREADY'],
    'the later StopPodSandbox changes nothing, so no second event',
  );
});

t.test('GetContainerEvents: CRI messages; cancel ends the stream and unsubscribes', async (t) => {
  const { pods, addPod, addContainer } = podFixture(t, { controller: { startContainer: async () => undefined } });
  addPod('pod-c');
  addContainer('c3', 'pod-c', 'CONTAINER_CREATED');
  const abort = new AbortController();
  const ctx: CallContext = { log: silentLogger, signal: abort.signal };
  const stream = eventStreams(pods).GetContainerEvents({}, ctx)[Symbol.asyncIterator]();
  const first = stream.next();
  // The generator subscribes when first pulled.
  await new Promise((r) => setImmediate(r));
  t.equal(pods.eventSubscribers(), 1);
  await pods.startContainer('c3');
  const msg = (await first).value as ContainerEventResponse;
  t.equal(msg.container_id, 'c3');
  t.equal(msg.container_event_type, 'CONTAINER_STARTED_EVENT');
  t.match(msg.created_at, /^\d+$/);
  t.equal(msg.pod_sandbox_status?.id, 'pod-c');
  t.equal(msg.pod_sandbox_status?.metadata?.uid, 'pod-c', 'kubelet finds the pod by its uid');
  t.same(
    msg.containers_statuses?.map((c) => [c.id, c.state]),
    [['c3', 'CONTAINER_RUNNING']],
  );
  const waiting = stream.next();
  abort.abort();
  t.same(await waiting, { value: undefined, done: true }, 'the stream ends when the caller cancels');
  t.equal(pods.eventSubscribers(), 0, 'nothing is left subscribed');
});
