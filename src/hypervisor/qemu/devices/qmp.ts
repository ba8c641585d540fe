import { InvalidArgumentError } from '../../../../common/errors';
import type { QmpDevice } from './types';

/** The QMP control socket; `wait=off` so QEMU does not block for a client. */
export function qmpArgs(d: QmpDevice): string[] {
  // The legacy `unix:` chardev syntax has no escape for ',' in the path.
  if (d.socketPath.includes(',')) throw new InvalidArgumentError('qmp socket path', `"${d.socketPath}" contains a comma`);
  return ['-qmp', `unix:${d.socketPath},server=on,wait=off`];
}
