import { readFile } from 'node:fs/promises';
import type { TtrpcServer } from '../../../common/ttrpc';
import { HealthResponse_Status } from '../../../common/generated/agent/agent';
import { PROTOCOL_VERSION } from '../../../common/agent-protocol/limits';
import type { AgentDeps } from '../deps';
import { handle } from './define';

export function registerHealth(server: TtrpcServer, d: AgentDeps): void {
  handle(server, 'Health', async () => ({ status: HealthResponse_Status.SERVING, uptime_ms: Date.now() - d.startedAt }));
  handle(server, 'Version', async () => ({
    agent_version: d.agentVersion,
    protocol_version: PROTOCOL_VERSION,
    node_version: process.version,
    kernel_release: (await readFile('/proc/sys/kernel/osrelease', 'utf8').catch(() => '')).trim(),
  }));
}
