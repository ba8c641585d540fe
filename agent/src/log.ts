// The agent logs one JSON line per event to stderr, which the guest's console
// (ttyS0) carries to the host's console log. No pino here: the bundle stays
// small and starts fast under TCG.

export type Fields = Record<string, unknown>;

export interface AgentLog {
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
}

export function consoleLog(write: (line: string) => void = (l) => process.stderr.write(l)): AgentLog {
  const emit = (level: string, msg: string, fields?: Fields): void => {
    write(`${JSON.stringify({ time: new Date().toISOString(), level, subsystem: 'vmpod-agent', msg, ...fields })}\n`);
  };
  return {
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
  };
}

export const silentLog: AgentLog = { info: () => undefined, warn: () => undefined, error: () => undefined };
