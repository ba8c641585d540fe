// The shape every CRI method implementation has. Handlers receive the request
// as decoded by @grpc/proto-loader with the options in src/cri/proto.ts
// (snake_case field names, int64 as decimal strings, enums as their names,
// defaults filled in), and return a plain object of the response message.
// They throw typed errors from src/errors.ts; src/cri/wrap.ts does the rest.

import type { Logger } from '../log';

export interface CallContext {
  /** Child logger carrying the method and any pod/container id of the call. */
  log: Logger;
  /** Aborted when the caller cancels or its deadline passes. */
  signal: AbortSignal;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each table entry is typed by its own module
export type Handler<Req = any, Res = any> = (req: Req, ctx: CallContext) => Promise<Res>;

/** RPC name (as in the proto, e.g. `PullImage`) → implementation. */
export type HandlerTable = Record<string, Handler>;
