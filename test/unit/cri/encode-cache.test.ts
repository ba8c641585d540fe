import t from 'tap';
import { ENCODED_BY_ENTRY, entryCachingSerializer } from '../../../src/cri/encode-cache';
import { runtimeServiceDefinition } from '../../../src/cri/proto';
import type { Container } from '../../../src/generated/cri/runtime/v1/Container';
import type { PodSandbox } from '../../../src/generated/cri/runtime/v1/PodSandbox';

const def = runtimeServiceDefinition();

function container(i: number): Container {
  return {
    id: `c${i}`.padEnd(64, 'a'),
    pod_sandbox_id: `p${i}`.padEnd(64, 'b'),
    metadata: { name: `ctr-${i}`, attempt: i % 3 },
    image: { image: 'registry.local/busybox:v1', annotations: { a: 'b' }, user_specified_image: 'busybox', runtime_handler: '' },
    image_ref: 'sha256:ref',
    state: i % 2 ? 'CONTAINER_RUNNING' : 'CONTAINER_EXITED',
    created_at: '1733456789123456789',
    labels: { 'io.kubernetes.pod.name': `pod-${i}`, 'io.kubernetes.container.name': `ctr-${i}` },
    annotations: { 'io.kubernetes.container.hash': 'abc', restartCount: String(i) },
    image_id: 'sha256:id',
  };
}

function pod(i: number): PodSandbox {
  return {
    id: `p${i}`.padEnd(64, 'b'),
    metadata: { name: `pod-${i}`, uid: `u${i}`, namespace: 'ns', attempt: 0 },
    state: 'SANDBOX_READY',
    created_at: '1733456789123456789',
    labels: { app: 'x' },
    annotations: {},
    runtime_handler: 'runc',
  };
}

/** The stock serializer, counting the calls. */
function counted(serialize: (v: unknown) => Buffer) {
  let calls = 0;
  return { calls: () => calls, serialize: (v: unknown) => (calls++, serialize(v)) };
}

const methods: Array<{ desc: string; method: string; entries: () => object[] }> = [
  { desc: 'ListContainers', method: 'ListContainers', entries: () => [1, 2, 3, 4, 5].map(container) },
  { desc: 'StreamContainers', method: 'StreamContainers', entries: () => [1, 2].map(container) },
  { desc: 'ListPodSandbox', method: 'ListPodSandbox', entries: () => [1, 2, 3].map(pod) },
  { desc: 'StreamPodSandboxes', method: 'StreamPodSandboxes', entries: () => [7].map(pod) },
];

for (const m of methods) {
  t.test(`${m.desc}: the bytes are the stock serializer's, entry by entry or whole`, async (t) => {
    const stock = (def as unknown as Record<string, { responseSerialize: (v: unknown) => Buffer; responseDeserialize: (b: Buffer) => unknown }>)[m.method];
    const field = ENCODED_BY_ENTRY[m.method];
    const frozen = m.entries().map((e) => Object.freeze(e));
    const serialize = entryCachingSerializer(stock.responseSerialize, field);
    const want = stock.responseSerialize({ [field]: frozen });
    t.ok(want.length > 0, 'something to compare');
    t.same(serialize({ [field]: frozen }), want, 'frozen entries (encoded once each)');
    t.same(serialize({ [field]: frozen }), want, 'again, from the cache');
    t.same(serialize({ [field]: m.entries() }), want, 'entries that are not frozen');
    t.same(serialize({ [field]: [] }), stock.responseSerialize({ [field]: [] }), 'no entries');
    t.same(stock.responseDeserialize(serialize({ [field]: frozen })), stock.responseDeserialize(want), 'and it decodes the same');
  });
}

t.test('a frozen entry is encoded once; an unfrozen one every time; anything besides the field goes to the stock serializer', async (t) => {
  const stock = counted(def.ListContainers.responseSerialize as (v: unknown) => Buffer);
  const serialize = entryCachingSerializer(stock.serialize, 'containers');
  const a = Object.freeze(container(1));
  const b = Object.freeze(container(2));
  serialize({ containers: [a, b] });
  t.equal(stock.calls(), 2, 'one encoding per entry');
  serialize({ containers: [b, a] });
  t.equal(stock.calls(), 2, 'both known: nothing encoded again');
  const changed = Object.freeze({ ...a, state: 'CONTAINER_EXITED' as const });
  const out = serialize({ containers: [changed, b] });
  t.equal(stock.calls(), 3, 'a new object (a changed record) is encoded anew');
  t.match(def.ListContainers.responseDeserialize(out), { containers: [{ state: 'CONTAINER_EXITED' }, { id: b.id }] }, 'and its new state is what is sent');
  const loose = container(3);
  serialize({ containers: [loose] });
  serialize({ containers: [loose] });
  t.equal(stock.calls(), 5, 'an entry that is not frozen could change under its key: encoded every time');
  serialize({ containers: [a], extra: 1 });
  t.equal(stock.calls(), 6, 'a response with another field: the stock serializer, whole');
  t.throws(() => serialize(null), 'not an object: the stock serializer says what it says');
  t.equal(stock.calls(), 7);
});
