// What can be done to a running container besides its life cycle: exec,
// resource updates, log rotation. Each checks the container is running after
// a refresh, so an exited container gets FAILED_PRECONDITION, not a
// controller error.

import { FailedPreconditionError } from '../../common/errors';
import type { LinuxContainerResources__Output } from '../generated/cri/runtime/v1/LinuxContainerResources';
import type { ContainerHandle, ExecResult, ProcessIO, SandboxController, SandboxHandle, StreamOptions } from '../sandbox/controller';
import type { ContainerRecord } from '../store/container';
import { containerHandle, containerLog, podRuntime, type Domain } from './domain';
import { refreshContainer } from './exits';
import { growPodForContainer } from './pod-resources';

interface Running {
  c: ContainerRecord;
  ctl: SandboxController;
  sh: SandboxHandle;
  ch: ContainerHandle;
}

async function running(d: Domain, c: ContainerRecord, what: string): Promise<Running> {
  const now = await refreshContainer(d, c);
  const sb = d.sandboxes.get(now.podSandboxId);
  const rt = sb ? podRuntime(d, sb) : null;
  const ch = containerHandle(now);
  if (now.state !== 'CONTAINER_RUNNING' || !rt || !ch) throw new FailedPreconditionError(`container ${now.id} is not running (${now.state}); ${what}`);
  return { c: now, ctl: rt.ctl, sh: rt.h, ch };
}

export async function execSync(d: Domain, c: ContainerRecord, cmd: string[], timeoutS: number): Promise<ExecResult> {
  const r = await running(d, c, 'cannot exec in it');
  return r.ctl.execSync(r.sh, r.ch, cmd, timeoutS);
}

export async function updateContainer(d: Domain, c: ContainerRecord, resources: LinuxContainerResources__Output): Promise<void> {
  const now = await refreshContainer(d, c);
  if (now.state === 'CONTAINER_EXITED') throw new FailedPreconditionError(`container ${now.id} is not running; its resources cannot be updated`);
  const sb = d.sandboxes.get(now.podSandboxId);
  const rt = sb ? podRuntime(d, sb) : null;
  const ch = containerHandle(now);
  if (!rt || !ch || !sb) throw new FailedPreconditionError(`container ${now.id} is still being created; its resources cannot be updated yet`);
  // A pod whose containers may now use more than it has grows first (a VM pod's VM).
  await growPodForContainer(d, sb, now.id, resources);
  await rt.ctl.updateContainer(rt.h, ch, resources);
  d.containers.update(now.id, (r) => ({ ...r, resources }));
  containerLog(d, now).info({ resources }, 'container resources updated');
}

export async function reopenContainerLog(d: Domain, c: ContainerRecord): Promise<void> {
  const r = await running(d, c, 'there is no log to reopen');
  await r.ctl.reopenContainerLog(r.sh, r.ch);
}

/** The id of a running container (NOT_FOUND, or FAILED_PRECONDITION naming its state), for a streaming request before its URL is issued. */
export async function requireRunning(d: Domain, c: ContainerRecord, what: string): Promise<string> {
  return (await running(d, c, what)).c.id;
}

export async function execStreams(d: Domain, c: ContainerRecord, cmd: string[], opts: StreamOptions): Promise<ProcessIO> {
  const r = await running(d, c, 'cannot exec in it');
  return r.ctl.exec(r.sh, r.ch, cmd, opts);
}

export async function attachStreams(d: Domain, c: ContainerRecord, opts: StreamOptions): Promise<ProcessIO> {
  const r = await running(d, c, 'cannot attach to it');
  return r.ctl.attach(r.sh, r.ch, opts);
}
