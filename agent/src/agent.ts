// The AgentService server: every RPC group registered explicitly.

import { TtrpcServer } from '../../common/ttrpc';
import type { AgentDeps } from './deps';
import { registerHealth } from './rpc/health';
import { registerSandbox } from './rpc/sandbox';
import { registerNetwork } from './rpc/network';
import { registerContainers } from './rpc/containers';
import { registerProcessIo } from './rpc/process-io';
import { registerPortForward } from './rpc/port-forward';
import { registerCopyFile } from './rpc/copy-file';
import { registerAgentLog } from './rpc/agent-log';
import { registerDebug } from './rpc/debug';
import { registerCpuMem } from './rpc/cpu-mem';

export function createAgentServer(d: AgentDeps): TtrpcServer {
  const server = new TtrpcServer({
    onHandlerError: (method, err) => d.log.warn({ method, err: err instanceof Error ? err.message : String(err) }, 'rpc failed'),
  });
  registerHealth(server, d);
  registerSandbox(server, d);
  registerNetwork(server, d);
  registerContainers(server, d);
  registerProcessIo(server, d);
  registerPortForward(server, d);
  registerCopyFile(server, d);
  registerAgentLog(server, d);
  registerDebug(server, d);
  registerCpuMem(server);
  return server;
}
