// The agent logs one JSON line per event to stderr, which the guest's console
// (ttyS0) carries to the host's console log, and, when given a ring, keeps the
// line there too so the host can read it over ReadAgentLog. No pino here: the
// bundle stays small and starts fast under TCG.

import type { Log, LogFields, LogFn } from '../../common/log';
import type { LogRing } from './log-ring';
import { unixNanoNumber } from '../../common/time';

/** The agent's logger: pino's call shape (common/log.ts), one JSON line per event. */
export type AgentLog = Log;

export function consoleLog(write: (line: string) => void = (l) => process.stderr.write(l), ring?: LogRing): AgentLog {
  const level =
    (name: string): LogFn =>
    (a: string | LogFields, b?: string): void => {
      const [fields, msg] = typeof a === 'string' ? [undefined, a] : [a, b ?? ''];
      const now = Date.now();
      write(`${JSON.stringify({ time: new Date(now).toISOString(), level: name, subsystem: 'vmpod-agent', msg, ...fields })}\n`);
      if (ring) ring.push(name, fields && Object.keys(fields).length ? `${msg} ${JSON.stringify(fields)}` : msg, unixNanoNumber(now));
    };
  return { info: level('info'), warn: level('warn'), error: level('error') };
}

const nothing = (() => undefined) as LogFn;
export const silentLog: AgentLog = { info: nothing, warn: nothing, error: nothing };
