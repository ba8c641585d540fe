// Stats in the domain's terms: the controller's cgroup (or VM process)
// figures, the CPU rate between two samples, and the writable layer's usage.
// The CRI handlers turn these into CRI messages. One pod or container whose
// stats cannot be read (a VM going away, a guest that does not answer) is
// left out of a list, never fails the node's list, which kubelet asks in one call.
// A pod's network counters come from its network namespace (the same for
// every handler, network/net-dev.ts); a namespace that cannot be read leaves
// them unset.

import type { Logger } from '../log';
import type { CgroupStats } from '../sandbox/controller';
import type { StatsExtras } from '../sandbox/stats-extras';
import type { ContainerRecord } from '../store/container';
import type { SandboxRecord } from '../store/sandbox';
import type { Usage } from '../image/usage';
import { msToNs } from '../../common/time';
import { readPodNetwork, type PodNetworkFigures } from '../network/net-dev';
import { podCpuKey } from './cpu-samples';
import { containerHandle, podRuntime, type Domain } from './domain';
import { refreshContainer } from './exits';
import { selectContainers, selectPods, type ContainerFilter, type PodFilter } from './filters';

export interface CgroupFigures extends CgroupStats, StatsExtras {
  /** CPU use since the previous sample, in ns per s; absent on the first. */
  cpuNanoCores?: number;
}

export interface ContainerStatsView {
  container: ContainerRecord;
  cgroup: CgroupFigures | null;
  writableLayer?: Usage & { mountpoint: string; timestampNs: string };
}

export interface PodStatsView {
  pod: SandboxRecord;
  cgroup: CgroupFigures | null;
  containers: ContainerStatsView[];
  network?: PodNetworkFigures;
}

/** The pod's network counters; undefined for a pod on the host's network (no namespace of its own) or one whose namespace cannot be read. */
async function podNetwork(sb: SandboxRecord, memberPid: number | undefined, log: Logger): Promise<PodNetworkFigures | undefined> {
  if (!sb.netnsPath || sb.namespaces.network === 'NODE') return undefined;
  return readPodNetwork(sb.netnsPath, memberPid).catch((err: Error) => {
    log.debug({ podSandboxId: sb.id, err: err.message }, 'pod network counters unavailable');
    return undefined;
  });
}

/** The process that stands for the pod on the host (infra, QEMU): it is in the pod's netns, so its /proc has the counters. */
function memberPid(rt: NonNullable<ReturnType<typeof podRuntime>>): number | undefined {
  try {
    return rt.ctl.describeSandbox(rt.h).pid;
  } catch {
    return undefined;
  }
}

function withRate(d: Domain, key: string, s: CgroupStats | null): CgroupFigures | null {
  if (!s) return null;
  const rate = d.cpu.rate(key, s.timestampNs, s.cpuUsageNs);
  return rate === undefined ? { ...s } : { ...s, cpuNanoCores: rate };
}

export async function containerStats(d: Domain, c: ContainerRecord): Promise<ContainerStatsView> {
  const sb = d.sandboxes.get(c.podSandboxId);
  const rt = sb ? podRuntime(d, sb) : null;
  const h = containerHandle(c);
  const raw = rt && h ? await rt.ctl.containerStats(rt.h, h) : null;
  const view: ContainerStatsView = { container: c, cgroup: withRate(d, c.id, raw) };
  if (c.upperDir) view.writableLayer = { ...(await d.images.writableLayerUsage(c.upperDir)), mountpoint: c.upperDir, timestampNs: raw?.timestampNs ?? msToNs(Date.now()) };
  return view;
}

/** `fn` for each item, leaving out (and logging) those it fails for. */
export async function eachReadable<T, R>(items: readonly T[], fn: (item: T) => Promise<R>, log: Logger, what: (item: T) => Record<string, unknown>): Promise<R[]> {
  const out = await Promise.all(
    items.map((item) =>
      fn(item).then(
        (r): { ok: true; r: R } => ({ ok: true, r }),
        (err: unknown) => {
          log.warn({ ...what(item), err: (err as Error).message }, 'stats unavailable; left out of the list');
          return { ok: false as const };
        },
      ),
    ),
  );
  return out.flatMap((o) => (o.ok ? [o.r] : []));
}

/** CRI: stats of the running containers that match the filter. */
export async function listContainerStats(d: Domain, f: ContainerFilter | undefined, log: Logger): Promise<ContainerStatsView[]> {
  const running = (await Promise.all(selectContainers(d.containers.list(), f).map((c) => refreshContainer(d, c)))).filter((c) => c.state === 'CONTAINER_RUNNING');
  return eachReadable(
    running,
    (c) => containerStats(d, c),
    log,
    (c) => ({ containerId: c.id }),
  );
}

export async function podStats(d: Domain, sb: SandboxRecord, log: Logger): Promise<PodStatsView> {
  const rt = podRuntime(d, sb);
  const raw = rt ? await rt.ctl.sandboxStats(rt.h) : null;
  const running = d.containers.list().filter((c) => c.podSandboxId === sb.id && c.controller && c.state === 'CONTAINER_RUNNING');
  const containers = await eachReadable(
    running,
    (c) => containerStats(d, c),
    log,
    (c) => ({ containerId: c.id }),
  );
  const view: PodStatsView = { pod: sb, cgroup: withRate(d, podCpuKey(sb.id), raw), containers };
  const network = rt ? await podNetwork(sb, memberPid(rt), log) : undefined;
  if (network) view.network = network;
  return view;
}

export async function listPodStats(d: Domain, f: PodFilter | undefined, log: Logger): Promise<PodStatsView[]> {
  return eachReadable(
    selectPods(d.sandboxes.list(), f),
    (s) => podStats(d, s, log),
    log,
    (s) => ({ podSandboxId: s.id }),
  );
}

/** For ListPodSandboxMetrics: every ready pod's figures, without CPU rates (metrics carry cumulative counters only). */
export interface PodMetricsView {
  pod: SandboxRecord;
  cgroup: CgroupStats | null;
  containers: { container: ContainerRecord; cgroup: CgroupStats }[];
  network?: PodNetworkFigures;
}

export async function podMetrics(d: Domain, log: Logger): Promise<PodMetricsView[]> {
  const ready = d.sandboxes.list().filter((s) => s.state === 'SANDBOX_READY' && s.controller);
  return eachReadable(
    ready,
    async (sb) => {
      const rt = podRuntime(d, sb)!;
      const cgroup = await rt.ctl.sandboxStats(rt.h);
      const running = d.containers.list().filter((c) => c.podSandboxId === sb.id && c.controller && c.state === 'CONTAINER_RUNNING');
      const read = await eachReadable(
        running,
        async (c) => ({ container: c, cgroup: await rt.ctl.containerStats(rt.h, containerHandle(c)!) }),
        log,
        (c) => ({ containerId: c.id }),
      );
      const view: PodMetricsView = { pod: sb, cgroup, containers: read.flatMap((r) => (r.cgroup ? [{ container: r.container, cgroup: r.cgroup }] : [])) };
      const network = await podNetwork(sb, memberPid(rt), log);
      if (network) view.network = network;
      return view;
    },
    log,
    (sb) => ({ podSandboxId: sb.id }),
  );
}
