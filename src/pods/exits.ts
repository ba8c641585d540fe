// The one place that records that a container has exited, and why. Two
// paths lead here: the controller reports an exit on its own (an event), or
// a status or list call asks the controller (refresh), so a container that
// exited is EXITED in the next answer either way.

import type { ContainerProcessState } from '../sandbox/controller';
import type { ContainerRecord } from '../store/container';
import type { SandboxRecord } from '../store/sandbox';
import { containerHandle, containerLog, sandboxHandle, type Domain } from './domain';
import { publishEvent } from './events';

/**
 * Record what the controller said about a created or running container.
 * "unknown" (the runtime has neither the process nor its state: a host
 * reboot, a killed conmon) makes it EXITED too: such a container can never
 * run again. Returns the record as it is now.
 */
export function recordState(d: Domain, c: ContainerRecord, st: ContainerProcessState): ContainerRecord {
  const current = d.containers.get(c.id);
  // Removed meanwhile: report what we had.
  if (!current) return c;
  if (current.state === 'CONTAINER_EXITED') return current;
  const gone = st.state === 'unknown' && (current.state === 'CONTAINER_RUNNING' || current.state === 'CONTAINER_CREATED');
  if (st.state !== 'exited' && !gone) return current;
  const reason = st.oomKilled ? 'OOMKilled' : st.exitCode === 0 ? 'Completed' : 'Error';
  const lost = current.state === 'CONTAINER_CREATED' ? 'container process disappeared before it was started' : 'container process disappeared';
  const next = d.containers.update(c.id, (r) => ({ ...r, state: 'CONTAINER_EXITED', exitCode: st.exitCode, finishedAt: st.finishedAt, reason, message: st.message ?? (gone ? lost : '') }));
  publishEvent(d, 'CONTAINER_STOPPED_EVENT', c.podSandboxId, c.id);
  containerLog(d, c).info({ exitCode: st.exitCode, reason }, 'container exited');
  return next;
}

/** Asks the controller whether a created/running container has exited, and records it. */
export async function refreshContainer(d: Domain, c: ContainerRecord): Promise<ContainerRecord> {
  if (c.state === 'CONTAINER_EXITED') return c;
  const ch = containerHandle(c);
  const sb = d.sandboxes.get(c.podSandboxId);
  const sh = sb ? sandboxHandle(sb) : null;
  const ctl = sb ? d.controllers.get(sb.handler) : undefined;
  if (!ch || !sh || !ctl) return c;
  return recordState(d, c, await ctl.containerState(sh, ch));
}

/** A READY pod whose infra process or VM died is NOTREADY from now on. */
export async function refreshPod(d: Domain, sb: SandboxRecord): Promise<SandboxRecord> {
  const h = sandboxHandle(sb);
  const ctl = d.controllers.get(sb.handler);
  if (sb.state !== 'SANDBOX_READY' || !h || !ctl || (await ctl.sandboxReady(h))) return sb;
  return markPodNotReady(d, sb.id, 'pod infra is gone; pod sandbox is NOTREADY') ?? sb;
}

/** READY → NOTREADY (the controller saw the pod's infra die); the record as it is now, undefined if removed. */
export function markPodNotReady(d: Domain, podSandboxId: string, why: string): SandboxRecord | undefined {
  const now = d.sandboxes.get(podSandboxId);
  // Stopped or removed by a concurrent call meanwhile.
  if (!now || now.state !== 'SANDBOX_READY') return now;
  d.log.child({ subsystem: 'pod', podSandboxId }).warn(why);
  const next = d.sandboxes.update(podSandboxId, (r) => ({ ...r, state: 'SANDBOX_NOTREADY' }));
  publishEvent(d, 'CONTAINER_STOPPED_EVENT', podSandboxId, podSandboxId);
  return next;
}
