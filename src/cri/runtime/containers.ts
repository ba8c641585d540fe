// Container lifecycle behind the CreateContainer / StartContainer /
// StopContainer / RemoveContainer handlers, and the one place that notices a
// container has exited (refresh) and records why.

import { FailedPreconditionError, InvalidArgumentError } from '../../../common/errors';
import type { Logger } from '../../log';
import type { ContainerConfig__Output } from '../../generated/cri/runtime/v1/ContainerConfig';
import { resolveStopSignal } from '../../oci/process';
import { checkUserRequest } from '../../oci/user';
import { Steps } from '../../sandbox/steps';
import type { ContainerHandle } from '../../sandbox/controller';
import type { ContainerRecord } from '../../store/container';
import type { SandboxRecord } from '../../store/sandbox';
import type { RuntimeDeps } from './deps';
import { forgetCpuSample } from './cpu-samples';
import { newId, nowNs } from './ids';
import { controllerFor, handleOf } from './sandbox-ref';
import { requireObject, requireString } from '../validate';
import { join, isAbsolute } from 'node:path';

export const containerHandle = (c: ContainerRecord): ContainerHandle | null => (c.runtime ? { id: c.id, runtime: c.runtime } : null);

export function containerLog(deps: RuntimeDeps, c: { id: string; podSandboxId: string }): Logger {
  return deps.log.child({ subsystem: 'container', podSandboxId: c.podSandboxId, containerId: c.id });
}

export async function createContainer(deps: RuntimeDeps, sb: SandboxRecord, config: ContainerConfig__Output): Promise<string> {
  const md = requireObject(config.metadata, 'config.metadata');
  requireString(md.name, 'config.metadata.name');
  const imageRefIn = requireString(requireObject(config.image, 'config.image').image, 'config.image.image');
  checkUserRequest(config.linux?.security_context);
  if (sb.state !== 'SANDBOX_READY') throw new FailedPreconditionError(`pod sandbox ${sb.id} is not ready; containers can only be created in a ready pod`);
  const dup = deps.containers.list().find((c) => c.podSandboxId === sb.id && c.config.metadata?.name === md.name && c.config.metadata.attempt === md.attempt);
  if (dup) throw new FailedPreconditionError(`container "${md.name}" attempt ${md.attempt} already exists in pod ${sb.id} as ${dup.id}; remove it first`);
  const image = deps.images.resolve(imageRefIn);
  const ctl = controllerFor(deps, sb);

  let targetPid = 0;
  const ns = config.linux?.security_context?.namespace_options;
  if (ns?.pid === 'TARGET') {
    const target = deps.containers.get(ns.target_id);
    if (!target || target.podSandboxId !== sb.id) throw new InvalidArgumentError('config.linux.security_context.namespace_options.target_id', `container "${ns.target_id}" is not in pod ${sb.id}`);
    if (target.runtime?.type === 'runc') targetPid = target.runtime.pid;
  }
  const logDir = sb.config.log_directory;
  const logPath = config.log_path ? (isAbsolute(config.log_path) || !logDir ? config.log_path : join(logDir, config.log_path)) : '';

  const id = newId();
  const log = containerLog(deps, { id, podSandboxId: sb.id });
  deps.containers.create({
    id, podSandboxId: sb.id, config, image: imageRefIn, imageId: image.id, imageRef: image.repoDigests[0] ?? image.id, logPath,
    stopSignal: resolveStopSignal(config.stop_signal ?? '', image.config), createdAt: nowNs(), startedAt: '0', finishedAt: '0',
    state: 'CONTAINER_CREATED', exitCode: 0, reason: '', message: '', resources: config.linux?.resources ?? null, rootfs: '', upperDir: '', runtime: null,
  });
  const steps = new Steps(`CreateContainer ${id}`, log);
  try {
    const layout = await steps.run('rootfs-prepare', () => deps.images.prepareRootfs(id, image.id), () => deps.images.releaseRootfs(id));
    await steps.run('rootfs-mount', () => deps.images.mountRootfs(id));
    const runtime = await steps.run('runtime-create', () => ctl.createContainer({
      id, sandbox: handleOf(sb), config, image: image.config, rootfs: layout.mountpoint, logPath, targetPid, log,
    }));
    deps.containers.update(id, (r) => ({ ...r, rootfs: layout.mountpoint, upperDir: layout.upper, runtime }));
  } catch (err) {
    deps.containers.delete(id);
    throw err;
  }
  steps.done();
  return id;
}

export async function startContainer(deps: RuntimeDeps, c: ContainerRecord): Promise<void> {
  const sb = deps.sandboxes.get(c.podSandboxId);
  const h = containerHandle(c);
  if (!sb || !h) throw new FailedPreconditionError(`container ${c.id} has no pod sandbox or runtime; remove it`);
  if (c.state !== 'CONTAINER_CREATED') throw new FailedPreconditionError(`container ${c.id} is ${c.state}; only a created container can be started`);
  try {
    await controllerFor(deps, sb).startContainer(handleOf(sb), h);
  } catch (err) {
    deps.containers.update(c.id, (r) => ({ ...r, state: 'CONTAINER_EXITED', finishedAt: nowNs(), exitCode: 128, reason: 'StartError', message: (err as Error).message }));
    throw err;
  }
  deps.containers.update(c.id, (r) => ({ ...r, state: 'CONTAINER_RUNNING', startedAt: nowNs() }));
  containerLog(deps, c).info('container started');
}

/** Asks the controller whether a created/running container has exited, and records it. */
export async function refresh(deps: RuntimeDeps, c: ContainerRecord): Promise<ContainerRecord> {
  if (c.state === 'CONTAINER_EXITED' || !c.runtime) return c;
  const sb = deps.sandboxes.get(c.podSandboxId);
  if (!sb || !sb.runtime) return c;
  const ctl = deps.controllers.get(sb.handlerType);
  if (!ctl) return c;
  const st = await ctl.containerState(handleOf(sb), { id: c.id, runtime: c.runtime });
  // Removed by a concurrent call while we asked: report what we had.
  if (!deps.containers.get(c.id)) return c;
  // "unknown": the runtime has neither the process nor its state (a host reboot, a killed
  // conmon). A created container in that state can never be started: it is EXITED too.
  if (st.state === 'exited' || (st.state === 'unknown' && (c.state === 'CONTAINER_RUNNING' || c.state === 'CONTAINER_CREATED'))) {
    const reason = st.oomKilled ? 'OOMKilled' : st.exitCode === 0 ? 'Completed' : 'Error';
    const gone = c.state === 'CONTAINER_CREATED' ? 'container process disappeared before it was started' : 'container process disappeared';
    const next = deps.containers.update(c.id, (r) => ({ ...r, state: 'CONTAINER_EXITED', exitCode: st.exitCode, finishedAt: st.finishedAt, reason, message: st.message ?? (st.state === 'unknown' ? gone : '') }));
    containerLog(deps, c).info({ exitCode: st.exitCode, reason }, 'container exited');
    return next;
  }
  return c;
}

export async function stopContainerRecord(deps: RuntimeDeps, c: ContainerRecord, timeoutS: number, log: Logger): Promise<void> {
  const cur = await refresh(deps, c);
  const h = containerHandle(cur);
  const sb = deps.sandboxes.get(cur.podSandboxId);
  // Already exited, or never got a runtime: nothing to stop (CRI: StopContainer is idempotent).
  if (cur.state === 'CONTAINER_EXITED' || !h || !sb?.runtime) return;
  await controllerFor(deps, sb).stopContainer(handleOf(sb), h, cur.stopSignal, timeoutS, log);
  const now = deps.containers.get(c.id);
  if (!now) return;
  const after = await refresh(deps, now);
  if (after.state !== 'CONTAINER_EXITED') {
    deps.containers.update(c.id, (r) => ({ ...r, state: 'CONTAINER_EXITED', finishedAt: nowNs(), exitCode: 137, reason: 'Error', message: 'stopped' }));
  }
  log.info({ timeoutS }, 'container stopped');
}

export async function removeContainerRecord(deps: RuntimeDeps, c: ContainerRecord, log: Logger): Promise<void> {
  const sb = deps.sandboxes.get(c.podSandboxId);
  const h = containerHandle(c);
  if (sb?.runtime && h) {
    const ctl = controllerFor(deps, sb);
    if (c.state !== 'CONTAINER_EXITED') await ctl.stopContainer(handleOf(sb), h, 9, 0, log);
    await ctl.removeContainer(handleOf(sb), h, log);
  }
  await deps.images.releaseRootfs(c.id);
  deps.containers.delete(c.id);
  forgetCpuSample(c.id);
  log.info('container removed');
}

