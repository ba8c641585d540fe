export { AgentClient, AgentUnavailableError, PortForwardStream } from './client';
export type { AgentClientOptions, AgentCallOptions, ConnectFn } from './client';
export { AgentResponseError } from './validate';
export * from '../../common/agent-protocol/limits';
export { serialConnector, vsockConnector, AGENT_VSOCK_PORT } from './transports';
