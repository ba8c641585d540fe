// ExecSync: validate the whole request before anything is looked up (a bad
// one is INVALID_ARGUMENT whatever it names), then run it through the service.

import { InvalidArgumentError } from '../../../common/errors';
import type { ExecSyncRequest__Output } from '../../generated/cri/runtime/v1/ExecSyncRequest';
import type { PodService } from '../../pods/service';
import type { HandlerTable } from '../handler';
import { int64, requireString } from '../validate';

export function execHandlers(pods: PodService): HandlerTable {
  return {
    ExecSync: async (req: ExecSyncRequest__Output) => {
      const id = requireString(req.container_id, 'container_id');
      if (req.cmd.length === 0) throw new InvalidArgumentError('cmd', 'is required');
      const timeoutS = Number(int64(req.timeout || '0', 'timeout'));
      const r = await pods.execSync(id, req.cmd, timeoutS);
      return { stdout: r.stdout, stderr: r.stderr, exit_code: r.exitCode };
    },
  };
}
