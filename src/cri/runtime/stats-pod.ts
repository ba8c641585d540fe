import type { PodSandboxStats } from '../../generated/cri/runtime/v1/PodSandboxStats';
import type { PodSandboxStatsRequest__Output } from '../../generated/cri/runtime/v1/PodSandboxStatsRequest';
import type { PodSandboxStatsResponse } from '../../generated/cri/runtime/v1/PodSandboxStatsResponse';
import type { SandboxRecord } from '../../store/sandbox';
import type { Handler } from '../handler';
import { requireString } from '../validate';
import type { RuntimeDeps } from './deps';
import { controllerFor, handleOf } from './sandbox-ref';
import { podCpuKey } from './cpu-samples';
import { containerStatsOf, cpuUsage, eachReadable, memoryUsage } from './stats-common';
import type { Logger } from '../../log';

export async function podStatsOf(deps: RuntimeDeps, sb: SandboxRecord, log: Logger): Promise<PodSandboxStats> {
  const raw = sb.runtime ? await controllerFor(deps, sb).sandboxStats(handleOf(sb)) : null;
  const running = deps.containers.list().filter((c) => c.podSandboxId === sb.id && c.runtime && c.state === 'CONTAINER_RUNNING');
  const containers = await eachReadable(running, async (c) => (await containerStatsOf(deps, c)).stats, log, (c) => ({ containerId: c.id }));
  const out: PodSandboxStats = { attributes: { id: sb.id, metadata: sb.config.metadata, labels: sb.config.labels, annotations: sb.config.annotations }, linux: { containers } };
  if (raw) {
    out.linux!.cpu = cpuUsage(podCpuKey(sb.id), raw);
    out.linux!.memory = memoryUsage(raw);
    out.linux!.process = { timestamp: raw.timestampNs, process_count: { value: String(raw.processes) } };
  }
  return out;
}

export function podSandboxStatsHandler(deps: RuntimeDeps): Handler<PodSandboxStatsRequest__Output, PodSandboxStatsResponse> {
  return async (req, ctx) => {
    const sb = deps.sandboxes.resolve(requireString(req.pod_sandbox_id, 'pod_sandbox_id'), 'pod_sandbox_id');
    return { stats: await podStatsOf(deps, sb, ctx.log) };
  };
}
