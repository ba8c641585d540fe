// UpdatePodSandboxResources, and the pod-level growth an UpdateContainerResources
// implies (docs/resize.md). kubelet resizes in this order: the pod first when
// it grows (UpdatePodSandboxResources), then its containers; the containers
// first when it shrinks, then the pod. A caller that updates a container
// alone (crictl update) gets the pod grown for it here, so that a VM pod's
// VM holds what its containers are now allowed: never shrunk, since nobody
// said the other containers shrank.

import { FailedPreconditionError, UnimplementedError } from '../../common/errors';
import type { LinuxContainerResources__Output } from '../generated/cri/runtime/v1/LinuxContainerResources';
import type { SandboxRecord } from '../store/sandbox';
import { podLog, podRuntime, type Domain } from './domain';

type Figures = Pick<LinuxContainerResources__Output, 'cpu_quota' | 'cpu_period' | 'memory_limit_in_bytes'>;

const DEFAULT_CPU_PERIOD_US = 100_000;

function int(v: string | number | undefined | null): number {
  const n = Number(v ?? 0);
  return Number.isFinite(n) ? Math.trunc(n) : 0;
}

/**
 * The sum of the containers' limits, as kubelet sends it in
 * LinuxPodSandboxConfig.resources: CPU quotas rescaled to one period (the
 * first container's, else 100 ms), memory added. A container without a
 * limit adds nothing. Pure.
 */
export function sumLimits(list: Array<Figures | null | undefined>): Figures & { cpu_shares?: string } {
  let period = 0;
  let quota = 0;
  let memory = 0;
  for (const r of list) {
    if (!r) continue;
    const q = int(r.cpu_quota);
    if (q > 0) {
      const p = int(r.cpu_period) > 0 ? int(r.cpu_period) : DEFAULT_CPU_PERIOD_US;
      if (period === 0) period = p;
      quota += Math.ceil((q * period) / p);
    }
    const m = int(r.memory_limit_in_bytes);
    if (m > 0) memory += m;
  }
  return { cpu_quota: String(quota), cpu_period: String(period || DEFAULT_CPU_PERIOD_US), memory_limit_in_bytes: String(memory) };
}

function requireReady(d: Domain, sb: SandboxRecord, what: string): NonNullable<ReturnType<typeof podRuntime>> {
  const rt = podRuntime(d, sb);
  if (sb.state !== 'SANDBOX_READY' || !rt) throw new FailedPreconditionError(`pod sandbox ${sb.id} is not ready; ${what}`);
  return rt;
}

/** UpdatePodSandboxResources: the controller resizes, then the record keeps what is in force. */
export async function updatePodResources(d: Domain, sb: SandboxRecord, resources: LinuxContainerResources__Output | null, overhead: LinuxContainerResources__Output | null): Promise<void> {
  const rt = requireReady(d, sb, 'its resources cannot be updated');
  if (!rt.ctl.updateSandboxResources) throw new UnimplementedError(`UpdatePodSandboxResources of pod sandbox ${sb.id}: handler "${sb.handler}" cannot resize a pod`);
  const log = podLog(d, sb.id);
  await rt.ctl.updateSandboxResources(rt.h, { resources, overhead }, log);
  // PodSandboxStatus and the next resize read the pod's resources from its config.
  d.sandboxes.update(sb.id, (r) => {
    const linux = r.config.linux ?? { cgroup_parent: '', security_context: null, sysctls: {}, overhead: null, resources: null };
    return { ...r, config: { ...r.config, linux: { ...linux, resources: resources ?? linux.resources, overhead: overhead ?? linux.overhead } } };
  });
  log.info({ resources, overhead }, 'pod resources updated');
}

/**
 * Before container `containerId` gets `resources`: grow the pod for the new
 * sum of its containers' limits if the handler can (never shrinks it).
 */
export async function growPodForContainer(d: Domain, sb: SandboxRecord, containerId: string, resources: LinuxContainerResources__Output): Promise<void> {
  const rt = podRuntime(d, sb);
  if (!rt?.ctl.updateSandboxResources) return;
  const others = d.containers
    .list()
    .filter((c) => c.podSandboxId === sb.id && c.id !== containerId && c.state !== 'CONTAINER_EXITED')
    .map((c) => c.resources);
  const sum = sumLimits([...others, resources]);
  await rt.ctl.updateSandboxResources(rt.h, { resources: { ...resources, ...sum }, overhead: null, growOnly: true }, podLog(d, sb.id));
}
