import type { ListPodSandboxMetricsResponse } from '../../generated/cri/runtime/v1/ListPodSandboxMetricsResponse';
import type { PodSandboxMetrics } from '../../generated/cri/runtime/v1/PodSandboxMetrics';
import type { Handler } from '../handler';
import type { RuntimeDeps } from './deps';
import { containerStatsOf, eachReadable } from './stats-common';
import { controllerFor, handleOf } from './sandbox-ref';
import { metricsOf } from './stats-metrics';

export function listPodSandboxMetrics(deps: RuntimeDeps): Handler<unknown, ListPodSandboxMetricsResponse> {
  return async (_req, ctx) => {
    const pods: PodSandboxMetrics[] = [];
    for (const sb of deps.sandboxes.list().filter((s) => s.state === 'SANDBOX_READY' && s.runtime)) {
      const md = sb.config.metadata;
      // One pod whose stats cannot be read (a VM going away) must not hide every other pod's metrics.
      const podRaw = await controllerFor(deps, sb)
        .sandboxStats(handleOf(sb))
        .catch((err: Error) => {
          ctx.log.warn({ podSandboxId: sb.id, err: err.message }, 'pod metrics unavailable; skipping this pod');
          return undefined;
        });
      if (podRaw === undefined) continue;
      const running = deps.containers.list().filter((c) => c.podSandboxId === sb.id && c.state === 'CONTAINER_RUNNING');
      const read = await eachReadable(running, async (c) => ({ c, raw: (await containerStatsOf(deps, c)).raw }), ctx.log, (c) => ({ containerId: c.id }));
      const container_metrics = read
        .filter((r) => r.raw)
        .map(({ c, raw }) => ({ container_id: c.id, metrics: metricsOf(raw!, [c.config.metadata?.name ?? '', c.id, c.image, c.id, md?.namespace ?? '', md?.name ?? '']) }));
      const podLabels = ['POD', sb.id, '', sb.id, md?.namespace ?? '', md?.name ?? ''];
      pods.push({ pod_sandbox_id: sb.id, metrics: podRaw ? metricsOf(podRaw, podLabels) : [], container_metrics });
    }
    return { pod_metrics: pods };
  };
}
