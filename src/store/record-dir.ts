// Reading a directory of one-JSON-file-per-record at start-up, shared by
// RecordStore and the image store's JsonDir: temp files a daemon killed
// mid-write left behind are deleted, non-JSON names are skipped, and each
// record is either handed to `accept` or, when it cannot be read or
// `accept` throws, to `reject` (the store decides what to do with it).

import { mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../log';
import { isTempName, readJson } from './atomic';

export function readRecordDir(dir: string, accept: (name: string, value: unknown) => void, reject: (name: string, err: unknown) => void): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (isTempName(name)) {
      rmSync(path, { force: true });
      continue;
    }
    if (!name.endsWith('.json')) continue;
    try {
      accept(name, readJson<unknown>(path));
    } catch (err) {
      reject(name, err);
    }
  }
}

/**
 * Move an unreadable record to `<dir>/corrupt/` (kept for inspection, never
 * loaded again) and log it: a bad record must neither crash start-up nor be
 * silently overwritten.
 */
export function quarantineRecord(dir: string, name: string, err: unknown, log: Logger, kind: string): void {
  const corrupt = join(dir, 'corrupt');
  mkdirSync(corrupt, { recursive: true, mode: 0o700 });
  const dest = join(corrupt, `${name}.${Date.now()}`);
  renameSync(join(dir, name), dest);
  log.error({ file: name, movedTo: dest, err: (err as Error).message }, `${kind} record unreadable; moved aside`);
}
