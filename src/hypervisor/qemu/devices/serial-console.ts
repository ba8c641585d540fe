import type { SerialConsoleDevice } from './types';
import { opts } from './opts';

/**
 * The guest's first serial port (ttyS0) written to a per-pod file, so the
 * console survives a daemon restart and its tail can explain a failed boot.
 * `append=on` (O_APPEND) lets the daemon cap the file while QEMU writes it
 * (see console-log.ts); the launcher removes an old file first.
 */
export function serialConsoleArgs(d: SerialConsoleDevice): string[] {
  return [
    '-chardev',
    opts('file', [
      ['id', 'console'],
      ['path', d.logPath],
      ['append', 'on'],
    ]),
    '-serial',
    'chardev:console',
  ];
}
