// ttRPC (containerd/ttrpc wire protocol) for Node: used by the host's agent
// client and bundled into the in-guest agent.
export { TtrpcClient } from './client';
export type { CallOptions, ClientOptions, ClientStream, StreamOptions } from './client';
export { TtrpcServer, ServerConnection } from './server';
export type { CallContext, Handler, ServerOptions } from './server';
export { MAX_FRAME_LENGTH, HEADER_LENGTH, MessageType, Flag } from './frame';
export * from './errors';
