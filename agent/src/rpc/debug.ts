import type { TtrpcServer } from '../../../common/ttrpc';
import { FailedPreconditionError } from '../../../common/errors';
import type { AgentDeps } from '../deps';
import { handle } from './define';

export function registerDebug(server: TtrpcServer, d: AgentDeps): void {
  handle(server, 'DebugExec', async (req) => {
    if (!d.debug) throw new FailedPreconditionError('this agent runs no debug processes');
    const pid = await d.debug.start(req);
    // Said in the log ring and on the console: an operator's shell in the guest is worth a trace.
    d.log.info({ execId: req.exec_id, pid, args: req.args.slice(0, 8).join(' ').slice(0, 256), terminal: req.terminal }, 'debug process started');
    return { pid };
  });
}
