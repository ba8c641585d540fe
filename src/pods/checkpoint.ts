// CheckpointContainer in the domain: the request checked (an absolute
// location whose directory exists; the container running), then the pod's
// controller writes the archive. What an archive holds and how is the
// controller's (runc: src/sandbox/runc/checkpoint.ts; VM pods: UNIMPLEMENTED).

import { statSync } from 'node:fs';
import { dirname, isAbsolute } from 'node:path';
import { FailedPreconditionError, InvalidArgumentError, NotFoundError } from '../../common/errors';
import type { CheckpointOptions } from '../sandbox/controller';
import type { ContainerRecord } from '../store/container';
import { containerHandle, containerLog, podRuntime, type Domain } from './domain';
import { refreshContainer } from './exits';

/** CheckpointContainerRequest's location and timeout, checked against the host's files (INVALID_ARGUMENT / NOT_FOUND naming them). */
export function checkpointOptions(location: string, timeoutS: number, stat: (p: string) => { isDirectory(): boolean } | undefined = statOrUndefined): CheckpointOptions {
  if (!location) throw new InvalidArgumentError('location', 'is required (the path of the checkpoint archive to write)');
  if (!isAbsolute(location)) throw new InvalidArgumentError('location', `${location} is not an absolute path`);
  if (!Number.isSafeInteger(timeoutS) || timeoutS < 0) throw new InvalidArgumentError('timeout', `${timeoutS} is not a non-negative number of seconds`);
  if (stat(location)?.isDirectory()) throw new InvalidArgumentError('location', `${location} is a directory; it must name the archive file`);
  const dir = dirname(location);
  const d = stat(dir);
  if (!d) throw new NotFoundError('directory', dir, `the directory of checkpoint location ${location} does not exist`);
  if (!d.isDirectory()) throw new InvalidArgumentError('location', `${dir} is not a directory`);
  return { location, timeoutS };
}

function statOrUndefined(p: string): { isDirectory(): boolean } | undefined {
  try {
    return statSync(p);
  } catch {
    return undefined;
  }
}

export async function checkpointContainer(d: Domain, c: ContainerRecord, opts: CheckpointOptions): Promise<void> {
  const now = await refreshContainer(d, c);
  const sb = d.sandboxes.get(now.podSandboxId);
  const rt = sb ? podRuntime(d, sb) : null;
  const ch = containerHandle(now);
  if (now.state !== 'CONTAINER_RUNNING' || !rt || !ch) throw new FailedPreconditionError(`container ${now.id} is not running (${now.state}); only a running container can be checkpointed`);
  // The image goes into the archive: a restore makes its rootfs over the same layers.
  await rt.ctl.checkpointContainer(rt.h, ch, { ...opts, image: { ref: now.image, id: now.imageId } });
  containerLog(d, now).info({ location: opts.location }, 'container checkpointed');
}
