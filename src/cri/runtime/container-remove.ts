import type { RemoveContainerRequest__Output } from '../../generated/cri/runtime/v1/RemoveContainerRequest';
import type { RemoveContainerResponse } from '../../generated/cri/runtime/v1/RemoveContainerResponse';
import { NotFoundError } from '../../errors';
import type { Handler } from '../handler';
import { requireString } from '../validate';
import type { RuntimeDeps } from './deps';
import { containerLog, removeContainerRecord } from './containers';
import { locksOf } from './keyed-lock';

export function removeContainerHandler(deps: RuntimeDeps): Handler<RemoveContainerRequest__Output, RemoveContainerResponse> {
  return async (req) => {
    const id = requireString(req.container_id, 'container_id');
    let c;
    try {
      c = deps.containers.resolve(id, 'container_id');
    } catch (err) {
      // CRI: RemoveContainer must not return an error if the container has already been removed.
      if (err instanceof NotFoundError) return {};
      throw err;
    }
    await locksOf(deps).containers.run(c.id, async () => {
      // Removed by a call that held the lock before us (CRI: still a success).
      const current = deps.containers.get(c.id);
      if (current) await removeContainerRecord(deps, current, containerLog(deps, current));
    });
    return {};
  };
}
