// What each ready pod's sandbox costs the host, read at scrape time through
// the controllers' sandboxStats: for a VM pod that is its QEMU process (the
// guest's memory and vCPUs plus QEMU's own overhead, src/hypervisor/host-stats.ts),
// for a runc pod the pod's cgroup. A read walks /proc (and may ask a guest
// agent for its containers), so it is bounded: one read at a time, and its
// result is reused for `maxAgeMs` however often Prometheus scrapes.

import { Counter, Gauge, type Registry } from 'prom-client';

export interface PodCost {
  podSandboxId: string;
  namespace: string;
  name: string;
  handler: string;
  cpuSeconds: number;
  rssBytes: number;
  memoryLimitBytes: number;
}

/** Single-flight, time-bounded cache of an async read. `now` is injectable for tests. */
export class CachedRead<T> {
  private last?: { at: number; value: T };
  private pending?: Promise<T>;

  constructor(
    private readonly read: () => Promise<T>,
    private readonly maxAgeMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  get(): Promise<T> {
    if (this.last && this.now() - this.last.at < this.maxAgeMs) return Promise.resolve(this.last.value);
    this.pending ??= this.read()
      .then((value) => {
        this.last = { at: this.now(), value };
        return value;
      })
      .finally(() => {
        this.pending = undefined;
      });
    return this.pending;
  }
}

const LABELS = ['pod_sandbox_id', 'namespace', 'pod', 'handler'] as const;

function labelsOf(c: PodCost): Record<(typeof LABELS)[number], string> {
  return { pod_sandbox_id: c.podSandboxId, namespace: c.namespace, pod: c.name, handler: c.handler };
}

/** The two gauges: one a field of PodCost. */
const GAUGES: readonly { name: string; help: string; value: (c: PodCost) => number }[] = [
  {
    name: 'vmpod_pod_sandbox_memory_rss_bytes',
    help: 'Resident memory of the pod sandbox on the host: the QEMU process (guest RAM touched plus QEMU itself) for a VM pod, the pod cgroup for runc.',
    value: (c) => c.rssBytes,
  },
  {
    name: 'vmpod_pod_sandbox_memory_limit_bytes',
    help: "The pod sandbox's memory limit: a VM's guest memory size, a runc pod cgroup's limit (0: none).",
    value: (c) => c.memoryLimitBytes,
  },
];

export function registerPodCost(registry: Registry, read: () => Promise<PodCost[]>, maxAgeMs: number): void {
  const cached = new CachedRead(read, maxAgeMs);
  const registers = [registry];
  /** At each scrape: the cached reading, one series a pod (the previous scrape's pods dropped). */
  const perPod = async (metric: { reset(): void }, put: (c: PodCost) => void): Promise<void> => {
    const costs = await cached.get();
    metric.reset();
    for (const c of costs) put(c);
  };
  new Counter({
    name: 'vmpod_pod_sandbox_cpu_seconds_total',
    help: 'CPU time the pod sandbox used on the host: the QEMU process (all vCPUs) for a VM pod, the pod cgroup for runc.',
    labelNames: LABELS,
    registers,
    collect() {
      return perPod(this, (c) => this.inc(labelsOf(c), c.cpuSeconds));
    },
  });
  for (const { name, help, value } of GAUGES) {
    new Gauge({
      name,
      help,
      labelNames: LABELS,
      registers,
      collect() {
        return perPod(this, (c) => this.set(labelsOf(c), value(c)));
      },
    });
  }
}

/** What PodService.podMetrics answers, as far as the cost metrics need it. */
export interface PodReading {
  pod: { id: string; handler: string; config: { metadata: { name: string; namespace: string } | null } };
  cgroup: { cpuUsageNs: number; memoryRssBytes: number; memoryLimitBytes: number } | null;
}

/** Pure: readings → costs, leaving out pods whose sandbox could not be read (a VM that is not alive). */
export function toPodCosts(readings: readonly PodReading[]): PodCost[] {
  return readings.flatMap(({ pod, cgroup }) =>
    cgroup
      ? [
          {
            podSandboxId: pod.id,
            namespace: pod.config.metadata?.namespace ?? '',
            name: pod.config.metadata?.name ?? '',
            handler: pod.handler,
            cpuSeconds: cgroup.cpuUsageNs / 1e9,
            rssBytes: cgroup.memoryRssBytes,
            memoryLimitBytes: cgroup.memoryLimitBytes,
          },
        ]
      : [],
  );
}
