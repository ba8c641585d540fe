// Pods and containers by handler and state, counted at scrape time from the
// in-memory stores (no disk, no controller call), so a scrape costs a walk
// of two maps however often it comes.

import { Gauge, type Registry } from 'prom-client';

export interface PodLike {
  id: string;
  handler: string;
  state: string;
}

export interface ContainerLike {
  podSandboxId: string;
  state: string;
}

export interface InventorySource {
  pods(): readonly PodLike[];
  containers(): readonly ContainerLike[];
}

export interface InventoryRow {
  kind: 'pod' | 'container';
  handler: string;
  state: string;
  count: number;
}

/** Pure: the rows of both gauges. A container is counted under its pod's handler ("unknown" if the pod record is gone). */
export function countInventory(pods: readonly PodLike[], containers: readonly ContainerLike[]): InventoryRow[] {
  const handlerOf = new Map(pods.map((p) => [p.id, p.handler]));
  const counts = new Map<string, InventoryRow>();
  const add = (kind: InventoryRow['kind'], handler: string, state: string): void => {
    const key = `${kind}\0${handler}\0${state}`;
    const row = counts.get(key) ?? { kind, handler, state, count: 0 };
    row.count++;
    counts.set(key, row);
  };
  for (const p of pods) add('pod', p.handler, p.state);
  for (const c of containers) add('container', handlerOf.get(c.podSandboxId) ?? 'unknown', c.state);
  return [...counts.values()];
}

/** The two gauges: one a kind of row. */
const GAUGES: readonly { kind: InventoryRow['kind']; name: string; help: string }[] = [
  { kind: 'pod', name: 'vmpod_pod_sandboxes', help: 'Pod sandboxes vmpod holds, by handler and CRI state (SANDBOX_READY, SANDBOX_NOTREADY).' },
  {
    kind: 'container',
    name: 'vmpod_containers',
    help: "Containers vmpod holds, by their pod's handler and CRI state (CONTAINER_CREATED, _RUNNING, _EXITED, _UNKNOWN).",
  },
];

export function registerInventory(registry: Registry, source: InventorySource): void {
  const rows = (): InventoryRow[] => countInventory(source.pods(), source.containers());
  for (const { kind, name, help } of GAUGES) {
    new Gauge({
      name,
      help,
      labelNames: ['handler', 'state'],
      registers: [registry],
      collect() {
        this.reset();
        for (const r of rows()) if (r.kind === kind) this.set({ handler: r.handler, state: r.state }, r.count);
      },
    });
  }
}
