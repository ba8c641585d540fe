// The agent logs one JSON line per event to stderr, which the guest's console
// (ttyS0) carries to the host's console log, and, when given a ring, keeps the
// line there too so the host can read it over ReadAgentLog. No pino here: the
// bundle stays small and starts fast under TCG.

import type { LogRing } from './log-ring';

export type Fields = Record<string, unknown>;

export interface AgentLog {
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
}

export function consoleLog(write: (line: string) => void = (l) => process.stderr.write(l), ring?: LogRing): AgentLog {
  const emit = (level: string, msg: string, fields?: Fields): void => {
    const now = Date.now();
    write(`${JSON.stringify({ time: new Date(now).toISOString(), level, subsystem: 'vmpod-agent', msg, ...fields })}\n`);
    if (ring) ring.push(level, fields && Object.keys(fields).length ? `${msg} ${JSON.stringify(fields)}` : msg, now * 1e6);
  };
  return {
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
  };
}

export const silentLog: AgentLog = { info: () => undefined, warn: () => undefined, error: () => undefined };
