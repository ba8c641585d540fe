import type { StopContainerRequest__Output } from '../../generated/cri/runtime/v1/StopContainerRequest';
import type { StopContainerResponse } from '../../generated/cri/runtime/v1/StopContainerResponse';
import { NotFoundError } from '../../errors';
import type { Handler } from '../handler';
import { int64, requireString } from '../validate';
import type { RuntimeDeps } from './deps';
import { containerLog, stopContainerRecord } from './containers';
import { locksOf } from './keyed-lock';

export function stopContainerHandler(deps: RuntimeDeps): Handler<StopContainerRequest__Output, StopContainerResponse> {
  return async (req) => {
    const id = requireString(req.container_id, 'container_id');
    const timeoutS = Number(int64(req.timeout || '0', 'timeout'));
    let c;
    try {
      c = deps.containers.resolve(id, 'container_id');
    } catch (err) {
      // CRI: StopContainer on a container that is already gone succeeds (idempotent).
      if (err instanceof NotFoundError) return {};
      throw err;
    }
    await locksOf(deps).containers.run(c.id, async () => {
      const current = deps.containers.get(c.id);
      if (current) await stopContainerRecord(deps, current, timeoutS, containerLog(deps, current));
    });
    return {};
  };
}
