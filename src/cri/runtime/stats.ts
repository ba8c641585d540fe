// Stats and metrics RPCs: the PodService reads, these convert.

import type { ContainerStatsRequest__Output } from '../../generated/cri/runtime/v1/ContainerStatsRequest';
import type { ListContainerStatsRequest__Output } from '../../generated/cri/runtime/v1/ListContainerStatsRequest';
import type { ListPodSandboxStatsRequest__Output } from '../../generated/cri/runtime/v1/ListPodSandboxStatsRequest';
import type { PodSandboxStatsRequest__Output } from '../../generated/cri/runtime/v1/PodSandboxStatsRequest';
import type { PodService } from '../../pods/service';
import type { HandlerTable } from '../handler';
import { requireString } from '../validate';
import { metricDescriptors, metricsOf, networkMetricsOf, overheadMetricsOf } from './metrics';
import { toCriContainerStats, toCriPodSandboxStats } from './stats-to-cri';

export function statsHandlers(pods: PodService): HandlerTable {
  return {
    ContainerStats: async (req: ContainerStatsRequest__Output) => ({ stats: toCriContainerStats(await pods.containerStats(requireString(req.container_id, 'container_id'))) }),
    // CRI: stats of the running containers that match the filter.
    ListContainerStats: async (req: ListContainerStatsRequest__Output, ctx) => {
      const f = req.filter;
      const views = await pods.listContainerStats(f ? { id: f.id, podSandboxId: f.pod_sandbox_id, labels: f.label_selector } : undefined, ctx.log);
      return { stats: views.map(toCriContainerStats) };
    },
    PodSandboxStats: async (req: PodSandboxStatsRequest__Output, ctx) => ({ stats: toCriPodSandboxStats(await pods.podStats(requireString(req.pod_sandbox_id, 'pod_sandbox_id'), ctx.log)) }),
    ListPodSandboxStats: async (req: ListPodSandboxStatsRequest__Output, ctx) => {
      const f = req.filter;
      return { stats: (await pods.listPodStats(f ? { id: f.id, labels: f.label_selector } : undefined, ctx.log)).map(toCriPodSandboxStats) };
    },
    ListMetricDescriptors: async () => ({ descriptors: metricDescriptors() }),
    ListPodSandboxMetrics: async (_req: unknown, ctx) => ({
      pod_metrics: (await pods.podMetrics(ctx.log)).map(({ pod, cgroup, containers, network }) => {
        const md = pod.config.metadata;
        // cadvisor's label values: container, id, image, name, namespace, pod.
        const podLabels = ['POD', pod.id, '', pod.id, md?.namespace ?? '', md?.name ?? ''];
        return {
          pod_sandbox_id: pod.id,
          metrics: [
            ...(cgroup ? metricsOf(cgroup, podLabels) : []),
            ...(network ? networkMetricsOf(network, podLabels) : []),
            ...(cgroup
              ? overheadMetricsOf(
                  cgroup,
                  containers.map((c) => c.cgroup),
                  podLabels,
                )
              : []),
          ],
          container_metrics: containers.map(({ container: c, cgroup: cs }) => ({
            container_id: c.id,
            metrics: metricsOf(cs, [c.config.metadata?.name ?? '', c.id, c.image, c.id, md?.namespace ?? '', md?.name ?? '']),
          })),
        };
      }),
    }),
  };
}
