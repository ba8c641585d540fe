// The per-pod logs a hostile guest can make grow must not fill the host's
// disk. The console log is written by the daemon alone, from QEMU's console
// ring (console-ring.ts), and capped after every drain; QEMU's stderr is a
// file QEMU holds O_APPEND, so the daemon can cut it down under QEMU's feet:
// every write lands at the current end, wherever that is. A few lines
// written between the read and the truncate are lost; for logs kept only to
// explain failures, that is the right trade.

import { closeSync, fstatSync, ftruncateSync, openSync, readSync, writeSync } from 'node:fs';

export const DEFAULT_CONSOLE_MAX_BYTES = 4 * 1024 * 1024;
export const DEFAULT_CONSOLE_KEEP_BYTES = 512 * 1024;
const MARK = '\n[vmpod: console log truncated]\n';

/** If `path` is larger than `maxBytes`, keep only its last `keepBytes`. Returns whether it was cut. */
export function capConsoleLog(path: string, maxBytes = DEFAULT_CONSOLE_MAX_BYTES, keepBytes = DEFAULT_CONSOLE_KEEP_BYTES): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'r+');
  } catch {
    return false;
  }
  try {
    const size = fstatSync(fd).size;
    if (size <= maxBytes) return false;
    const keep = Math.min(keepBytes, size);
    const tail = Buffer.alloc(keep);
    let off = 0;
    while (off < keep) {
      const n = readSync(fd, tail, off, keep - off, size - keep + off);
      if (n === 0) break;
      off += n;
    }
    ftruncateSync(fd, 0);
    const out = Buffer.concat([Buffer.from(MARK), tail.subarray(0, off)]);
    let w = 0;
    while (w < out.length) w += writeSync(fd, out, w, out.length - w, w);
    return true;
  } finally {
    closeSync(fd);
  }
}
