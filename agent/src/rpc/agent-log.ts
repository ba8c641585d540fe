// ReadAgentLog: the agent's own recent log lines, from its in-memory ring.

import type { TtrpcServer } from '../../../common/ttrpc';
import { agentLogReadBudget } from '../../../common/agent-protocol/limits';
import type { AgentDeps } from '../deps';
import { handle } from './define';

export function registerAgentLog(server: TtrpcServer, d: AgentDeps): void {
  handle(server, 'ReadAgentLog', async (req) => {
    const r = d.logRing.read(req.since_seq, agentLogReadBudget(req.max_bytes));
    return {
      lines: r.lines.map((l) => ({ seq: l.seq, time_unix_nano: l.timeUnixNano, level: l.level, msg: l.msg })),
      next_seq: r.nextSeq,
      dropped: r.dropped,
    };
  });
}
