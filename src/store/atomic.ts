import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { outOfSpaceError } from './out-of-space';

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export interface WriteOptions {
  mode?: number;
  /**
   * false: no fsync of the file or its directory. The write is still atomic
   * for readers and survives the daemon being killed (the page cache keeps
   * it), but not the machine crashing: after a power loss the file may be
   * missing, or empty (start-up sets an unreadable record aside). For a
   * record that only exists so that a killed daemon can undo a call half-way,
   * and that a later durable write replaces (CreateContainer's "creating"
   * record: two fsyncs, 1-4 ms of a blocked event loop, saved per call).
   */
  durable?: boolean;
}

/**
 * Write a file so that a crash at any instant leaves either the old or the
 * new content: write a temp file beside it, fsync it, rename over the target,
 * fsync the directory. Temp files are named `.<name>.tmp-<pid>` so that
 * start-up can sweep the ones a killed daemon left (`isTempName`). A write
 * that fails leaves the old content and no temp file; a full filesystem
 * (ENOSPC, EDQUOT) is thrown as RESOURCE_EXHAUSTED naming the file.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array, opts: WriteOptions = {}): void {
  try {
    writeThenRename(path, data, opts.mode ?? 0o600, opts.durable ?? true);
  } catch (err) {
    throw outOfSpaceError(err, `no space left to write ${path}`) ?? err;
  }
}

function writeThenRename(path: string, data: string | Uint8Array, mode: number, durable: boolean): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.${basename(path)}.tmp-${process.pid}`);
  const fd = openSync(tmp, 'w', mode);
  try {
    try {
      const buf = typeof data === 'string' ? Buffer.from(data) : data;
      let off = 0;
      while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
      if (durable) fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  if (durable) fsyncDir(dir);
}

export function writeJsonAtomic(path: string, value: unknown, opts: { durable?: boolean } = {}): void {
  writeFileAtomic(path, JSON.stringify(value, null, 2) + '\n', opts);
}

export function readJson<T>(path: string): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}

export function isTempName(name: string): boolean {
  return /^\..+\.tmp-\d+$/.test(name);
}

/**
 * Remove a file written with writeFileAtomic, and the temp files that writes
 * of it left when a daemon was killed between open and rename: removing what
 * an object owns must not leave those behind (found by the fault-injection
 * harness: a CNI cache entry's temp outlived its pod).
 */
export function removeAtomic(path: string): void {
  rmSync(path, { force: true });
  const prefix = `.${basename(path)}.tmp-`;
  let names: string[];
  try {
    names = readdirSync(dirname(path));
  } catch {
    return; // no directory: nothing left in it
  }
  for (const n of names) if (n.startsWith(prefix) && isTempName(n)) rmSync(join(dirname(path), n), { force: true });
}
