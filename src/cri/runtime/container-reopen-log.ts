// ReopenContainerLog: kubelet rotated the log file and asks for a new one.
// conmon reopens its log when told so on its control FIFO (message type 2).

import { constants as fsConstants } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import type { ReopenContainerLogRequest__Output } from '../../generated/cri/runtime/v1/ReopenContainerLogRequest';
import type { ReopenContainerLogResponse } from '../../generated/cri/runtime/v1/ReopenContainerLogResponse';
import { FailedPreconditionError, UnimplementedError } from '../../errors';
import type { Handler } from '../handler';
import { requireString } from '../validate';
import type { RuntimeDeps } from './deps';
import { refresh } from './containers';

const CONMON_REOPEN_LOG = 2;

export function reopenContainerLog(deps: RuntimeDeps): Handler<ReopenContainerLogRequest__Output, ReopenContainerLogResponse> {
  return async (req) => {
    const c = await refresh(deps, deps.containers.resolve(requireString(req.container_id, 'container_id'), 'container_id'));
    if (c.state !== 'CONTAINER_RUNNING') throw new FailedPreconditionError(`container ${c.id} is not running; there is no log to reopen`);
    if (c.runtime?.type !== 'runc') throw new UnimplementedError(`ReopenContainerLog is not implemented for ${c.runtime?.type ?? 'this'} containers`);
    // O_WRONLY|O_NONBLOCK: fails at once (ENXIO) instead of hanging if conmon is gone.
    const fifo = await open(join(c.runtime.bundle, 'ctl'), fsConstants.O_WRONLY | fsConstants.O_NONBLOCK).catch((err: Error) => {
      throw new FailedPreconditionError(`container ${c.id}: conmon control pipe unavailable: ${err.message}`);
    });
    try {
      await fifo.write(`${CONMON_REOPEN_LOG} 0 0\n`);
    } finally {
      await fifo.close();
    }
    return {};
  };
}
