// Containers: CreateContainer, StartContainer, StopContainer, RemoveContainer.
// A create writes its record first ("creating": no controller data), then
// prepares the rootfs and the image volumes (image-volumes.ts) and asks the
// controller; each step is undone if a later one fails, the record last.
// CreateContainer of an absolute path restores the checkpoint archive there
// (docs/checkpoint.md): the controller reads which image it lies over, the
// rootfs is made over that image, and the controller gets the archive.
// Start, stop and remove take the container's lock; stop and remove of a
// container already gone succeed (the CRI idempotency rule), which the
// callers rely on.

import { FailedPreconditionError, InvalidArgumentError, NotFoundError, UnimplementedError } from '../../common/errors';
import type { CheckpointSource, SandboxController } from '../sandbox/controller';
import type { ImageProvider, ResolvedImage } from './providers';
import type { ContainerConfig__Output } from '../generated/cri/runtime/v1/ContainerConfig';
import { resolveStopSignal } from '../oci/process';
import { checkUserRequest } from '../oci/user';
import { newContainerRecord, type ContainerRecord } from '../store/container';
import type { SandboxRecord } from '../store/sandbox';
import { nowNs } from '../../common/time';
import type { Logger } from '../log';
import { containerHandle, containerLog, controllerOf, podRuntime, sandboxHandle, type Domain } from './domain';
import { publishEvent } from './events';
import { refreshContainer } from './exits';
import { newId } from './ids';
import { checkedConfig, mountImageVolumes, planImageVolumes } from './image-volumes';
import { startSteps } from './start-steps';
import { isAbsolute, join } from 'node:path';

/**
 * The image a checkpoint archive's container ran, as the store has it: by the ref recorded, else by its id
 * (a tag moved since); NOT_FOUND naming it when neither resolves (pull it first).
 */
export function checkpointImage(images: Pick<ImageProvider, 'resolve'>, src: CheckpointSource, archive: string): ResolvedImage {
  for (const ref of [src.image.ref, src.image.id]) {
    try {
      const found = images.resolve(ref);
      if (found.id === src.image.id || ref === src.image.id) return found;
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
    }
  }
  throw new NotFoundError('image', src.image.ref, `checkpoint ${archive} was taken over image ${src.image.ref} (${src.image.id}), which is not in the image store: pull it first`);
}

/** CreateContainer's image: a pulled image, or for an absolute path the image a checkpoint archive lies over. */
async function containerImage(d: Domain, ctl: SandboxController, imageRefIn: string): Promise<{ image: ResolvedImage; ref: string; restoreFrom?: string }> {
  if (!isAbsolute(imageRefIn)) return { image: d.images.resolve(imageRefIn), ref: imageRefIn };
  if (!ctl.readCheckpoint) throw new UnimplementedError(`${imageRefIn} is a checkpoint archive; handler "${ctl.handler}" cannot restore checkpoints (runc handlers can)`);
  const src = await ctl.readCheckpoint(imageRefIn);
  return { image: checkpointImage(d.images, src, imageRefIn), ref: src.image.ref, restoreFrom: imageRefIn };
}

/** Call under the pod's lock, so that a concurrent StopPodSandbox cannot miss the new container. */
export async function createContainer(d: Domain, sb: SandboxRecord, config: ContainerConfig__Output): Promise<string> {
  const md = config.metadata!;
  const imageRefIn = config.image!.image;
  checkUserRequest(config.linux?.security_context);
  const sh = sandboxHandle(sb);
  if (sb.state !== 'SANDBOX_READY' || !sh) throw new FailedPreconditionError(`pod sandbox ${sb.id} is not ready; containers can only be created in a ready pod`);
  const ctl = controllerOf(d, sb);
  ctl.checkContainer(sh, checkedConfig(config));
  const dup = d.containers.list().find((c) => c.podSandboxId === sb.id && c.config.metadata?.name === md.name && c.config.metadata.attempt === md.attempt);
  if (dup) throw new FailedPreconditionError(`container "${md.name}" attempt ${md.attempt} already exists in pod ${sb.id} as ${dup.id}; remove it first`);
  // A restored container's record names the image it runs over, so that it holds it and a later checkpoint records it again.
  const { image, ref: imageRef, restoreFrom } = await containerImage(d, ctl, imageRefIn);
  const volumes = planImageVolumes(d.images, config.mounts ?? []);

  const ns = config.linux?.security_context?.namespace_options;
  let target: ContainerRecord | undefined;
  if (ns?.pid === 'TARGET') {
    target = d.containers.get(ns.target_id);
    if (!target || target.podSandboxId !== sb.id) throw new InvalidArgumentError('config.linux.security_context.namespace_options.target_id', `container "${ns.target_id}" is not in pod ${sb.id}`);
  }
  const logDir = sb.config.log_directory;
  // CRI: log_path is relative to the pod's log_directory (checked to stay inside it); without a directory there is no log file (as containerd).
  const logPath = config.log_path && logDir ? join(logDir, config.log_path) : '';

  const id = newId();
  const log = containerLog(d, { id, podSandboxId: sb.id });
  const what = `CreateContainer "${md.name}" in pod ${sb.id} (${id})`;
  // The "creating" record is written without fsync: it is there so that a daemon killed half-way undoes the create at
  // start-up (recover.ts), which the page cache gives; the last step's update is durable. After a machine crash before
  // it, the record may be lost: start-up then releases the rootfs lease no record knows.
  const steps = startSteps(d, what, log, 'CreateContainer', () =>
    d.containers.create(
      newContainerRecord({
        id,
        podSandboxId: sb.id,
        config,
        image: imageRef,
        imageId: image.id,
        imageRef: image.repoDigests[0] ?? image.id,
        logPath,
        stopSignal: resolveStopSignal(config.stop_signal ?? '', image.config),
        createdAt: nowNs(),
        resources: config.linux?.resources ?? null,
      }),
      { durable: false },
    ),
  );
  try {
    const layout = await steps.run(
      'rootfs-prepare',
      () => d.images.prepareRootfs(id, image.id),
      () => d.images.releaseRootfs(id),
    );
    await steps.run('rootfs-mount', () => d.images.mountRootfs(id));
    // The record keeps the config as asked (image mounts and all); the controller gets them as read-only binds.
    const runConfig = await steps.run(
      'image-volumes',
      () => mountImageVolumes(d.images, id, config, volumes),
      () => d.images.releaseVolumes(id),
    );
    const made = await steps.run(
      'runtime-create',
      () =>
        ctl.createContainer({
          id,
          sandbox: sh,
          config: runConfig,
          image: image.config,
          imageId: image.id,
          rootfs: layout.mountpoint,
          imageLayers: layout.lowerdirs,
          logPath,
          target: (target && containerHandle(target)) ?? undefined,
          restoreFrom,
          log,
        }),
      (r) => ctl.removeContainer(sh, { id, logPath, data: r.data }, log),
    );
    // The last step: if this write fails, the container is undone like any other failed step.
    await steps.run('record', async () => {
      d.containers.update(id, (r) => ({ ...r, rootfs: layout.mountpoint, upperDir: made.writablePath ?? layout.upper, user: made.user, controller: made.data }));
    });
  } catch (err) {
    d.containers.delete(id);
    throw err;
  }
  steps.done();
  if (restoreFrom) log.info({ archive: restoreFrom, image: imageRef }, 'container created from a checkpoint archive; StartContainer restores its processes');
  publishEvent(d, 'CONTAINER_CREATED_EVENT', sb.id, id);
  return id;
}

/** The container with this id, resolved again under its lock (a concurrent remove may have won). */
function current(d: Domain, id: string): ContainerRecord | undefined {
  return d.containers.get(id);
}

export async function startContainer(d: Domain, id: string): Promise<void> {
  await d.locks.containers.run(id, async () => {
    const c = current(d, id);
    if (!c) throw new FailedPreconditionError(`container ${id} was removed`);
    const sb = d.sandboxes.get(c.podSandboxId);
    const rt = sb ? podRuntime(d, sb) : null;
    const h = containerHandle(c);
    if (!rt || !h) throw new FailedPreconditionError(`container ${c.id} has no pod sandbox or runtime; remove it`);
    if (c.state !== 'CONTAINER_CREATED') throw new FailedPreconditionError(`container ${c.id} is ${c.state}; only a created container can be started`);
    try {
      await rt.ctl.startContainer(rt.h, h);
    } catch (err) {
      // A start retried after one whose answer was lost (a daemon crash after the
      // runtime started it): the runtime refuses a second start, but the container
      // runs, which is what the caller asked for. Asked only once a start failed: a
      // status alone cannot tell, since a reattached VM controller reports a
      // container the agent knows as running whether or not it was started.
      const st = await rt.ctl.containerState(rt.h, h).catch(() => undefined);
      if (st?.state === 'running') {
        d.containers.update(c.id, (r) => (r.state === 'CONTAINER_CREATED' ? { ...r, state: 'CONTAINER_RUNNING', startedAt: nowNs() } : r));
        publishEvent(d, 'CONTAINER_STARTED_EVENT', c.podSandboxId, c.id);
        containerLog(d, c).info('container was already started (an interrupted earlier start); recorded as running');
        return;
      }
      d.containers.update(c.id, (r) => ({ ...r, state: 'CONTAINER_EXITED', finishedAt: nowNs(), exitCode: 128, reason: 'StartError', message: (err as Error).message }));
      publishEvent(d, 'CONTAINER_STOPPED_EVENT', c.podSandboxId, c.id);
      throw err;
    }
    // An exit reported while the start was in flight has already been recorded.
    if (d.containers.get(c.id)?.state === 'CONTAINER_CREATED') {
      d.containers.update(c.id, (r) => ({ ...r, state: 'CONTAINER_RUNNING', startedAt: nowNs() }));
      publishEvent(d, 'CONTAINER_STARTED_EVENT', c.podSandboxId, c.id);
    }
    containerLog(d, c).info('container started');
  });
}

/** CRI: StopContainer of a container that is already gone or exited succeeds. */
export async function stopContainer(d: Domain, id: string, timeoutS: number): Promise<void> {
  await d.locks.containers.run(id, async () => {
    const c = current(d, id);
    if (!c) return;
    const now = await refreshContainer(d, c);
    const sb = d.sandboxes.get(now.podSandboxId);
    const rt = sb ? podRuntime(d, sb) : null;
    const h = containerHandle(now);
    if (!h || !rt) return;
    const log = containerLog(d, now);
    if (now.state === 'CONTAINER_EXITED') return unmountStopped(d, rt.ctl, id, log);
    await rt.ctl.stopContainer(rt.h, h, now.stopSignal, timeoutS, log);
    const after = current(d, id);
    if (!after) return;
    if ((await refreshContainer(d, after)).state !== 'CONTAINER_EXITED') {
      d.containers.update(id, (r) => ({ ...r, state: 'CONTAINER_EXITED', finishedAt: nowNs(), exitCode: 137, reason: 'Error', message: 'stopped' }));
      publishEvent(d, 'CONTAINER_STOPPED_EVENT', after.podSandboxId, id);
    }
    await unmountStopped(d, rt.ctl, id, log);
    log.info({ timeoutS }, 'container stopped');
  });
}

/**
 * A stopped container's rootfs is unmounted now when its controller no
 * longer uses it (rootfsUnusedAfterStop), so that RemoveContainer does not
 * wait for the unmount (an umount process, 15-25 ms). A failure is left to
 * the removal, which unmounts again.
 */
async function unmountStopped(d: Domain, ctl: SandboxController, id: string, log: Logger): Promise<void> {
  if (!ctl.rootfsUnusedAfterStop) return;
  await d.images.unmountRootfs(id).catch((err: Error) => log.warn({ err: err.message }, "unmounting the stopped container's rootfs failed; removal unmounts again"));
}

/** CRI: RemoveContainer removes a running container too, and succeeds when it is already gone. */
export async function removeContainer(d: Domain, id: string): Promise<void> {
  await d.locks.containers.run(id, async () => {
    const c = current(d, id);
    if (!c) return;
    const log = containerLog(d, c);
    const sb = d.sandboxes.get(c.podSandboxId);
    const rt = sb ? podRuntime(d, sb) : null;
    const h = containerHandle(c);
    if (rt && h) {
      if (c.state !== 'CONTAINER_EXITED') await rt.ctl.stopContainer(rt.h, h, 9, 0, log);
      await rt.ctl.removeContainer(rt.h, h, log);
    }
    await d.images.releaseVolumes(c.id);
    await d.images.releaseRootfs(c.id);
    d.containers.delete(c.id);
    publishEvent(d, 'CONTAINER_DELETED_EVENT', c.podSandboxId, c.id);
    d.cpu.forget(c.id);
    log.info('container removed');
  });
}
