import t from 'tap';
import { Registry } from 'prom-client';
import { countInventory, registerInventory, type ContainerLike, type PodLike } from '../../../src/metrics/inventory';

const pods: PodLike[] = [
  { id: 'a', handler: 'runc', state: 'SANDBOX_READY' },
  { id: 'b', handler: 'runc', state: 'SANDBOX_READY' },
  { id: 'c', handler: 'vm', state: 'SANDBOX_NOTREADY' },
];
const containers: ContainerLike[] = [
  { podSandboxId: 'a', state: 'CONTAINER_RUNNING' },
  { podSandboxId: 'c', state: 'CONTAINER_EXITED' },
  { podSandboxId: 'gone', state: 'CONTAINER_EXITED' },
];

t.test('countInventory', async (t) => {
  const cases: { desc: string; pods: PodLike[]; containers: ContainerLike[]; want: ReturnType<typeof countInventory> }[] = [
    { desc: 'nothing: no rows (not zero rows per state)', pods: [], containers: [], want: [] },
    {
      desc: 'pods by handler and state; containers under their pod handler, or unknown',
      pods,
      containers,
      want: [
        { kind: 'pod', handler: 'runc', state: 'SANDBOX_READY', count: 2 },
        { kind: 'pod', handler: 'vm', state: 'SANDBOX_NOTREADY', count: 1 },
        { kind: 'container', handler: 'runc', state: 'CONTAINER_RUNNING', count: 1 },
        { kind: 'container', handler: 'vm', state: 'CONTAINER_EXITED', count: 1 },
        { kind: 'container', handler: 'unknown', state: 'CONTAINER_EXITED', count: 1 },
      ],
    },
  ];
  for (const c of cases) t.same(countInventory(c.pods, c.containers), c.want, c.desc);
});

t.test('the gauges follow the source at every scrape', async (t) => {
  const registry = new Registry();
  let current = pods;
  registerInventory(registry, { pods: () => current, containers: () => containers });
  let text = await registry.metrics();
  t.match(text, /^vmpod_pod_sandboxes\{handler="runc",state="SANDBOX_READY"\} 2$/m, 'two ready runc pods');
  t.match(text, /^vmpod_containers\{handler="unknown",state="CONTAINER_EXITED"\} 1$/m, 'an orphan container');
  current = pods.slice(2);
  text = await registry.metrics();
  t.notMatch(text, /handler="runc",state="SANDBOX_READY"/, 'pods gone since the last scrape leave no stale series');
  t.match(text, /^vmpod_pod_sandboxes\{handler="vm",state="SANDBOX_NOTREADY"\} 1$/m, 'the pod left');
});
