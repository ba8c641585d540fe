// The one logger call shape for both sides: pino's. The host's logger is
// pino itself; the guest agent's (agent/src/log.ts) is a small writer with
// the same shape, so shared code (ttRPC, the agent protocol) takes either.
//
//   log.info('message');
//   log.info({ podSandboxId, err: err.message }, 'message');

export type LogFields = Record<string, unknown>;

export interface LogFn {
  (msg: string): void;
  (fields: LogFields, msg: string): void;
}

export interface Log {
  info: LogFn;
  warn: LogFn;
  error: LogFn;
}
