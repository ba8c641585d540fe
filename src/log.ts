import pino from 'pino';

export type Logger = pino.Logger;

/**
 * The daemon's one root logger. Subsystems take a child with
 * `{ subsystem: 'cri' | 'qemu' | 'qmp' | 'agent' | 'cni' | 'image' | ... }`,
 * pods and containers add `podSandboxId` / `containerId`.
 */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino({ level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, destination ?? pino.destination(2));
}

/** A logger that drops everything, for unit tests of code that wants one. */
export const silentLogger: Logger = pino({ level: 'silent' });
