import type { SerialConsoleDevice } from './types';
import { opts } from './opts';

/**
 * The guest's first serial port (ttyS0) written to a per-pod file, so the
 * console survives a daemon restart and its tail can explain a failed boot.
 */
export function serialConsoleArgs(d: SerialConsoleDevice): string[] {
  return [
    '-chardev',
    opts('file', [
      ['id', 'console'],
      ['path', d.logPath],
    ]),
    '-serial',
    'chardev:console',
  ];
}
