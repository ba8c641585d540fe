// Which guest image directory a vmpod uses, and why. An explicit
// a VM handler's `guest_dir` wins. Otherwise it is the image guest-image/build built
// from this checkout's own inputs (agent bundle, addon, guest-image/ files),
// which the build records in <checkout>/dist/guest-image.json. Nothing shared
// between checkouts decides it (the cache's `current` symlink names whichever
// checkout built last): two checkouts of different commits on one machine
// each boot their own guest, and two of the same commit share one image
// because the image is named by the hash of its inputs.

import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';

/** The record guest-image/build writes into this checkout (this file runs as <checkout>/dist/src/host/guest-record.js). */
export const CHECKOUT_GUEST_RECORD = join(__dirname, '..', '..', 'guest-image.json');

/** <checkout>/dist/guest-image.json, as guest-image/build writes it. */
export interface GuestRecord {
  schema: 1;
  /** The input hash: the image directory's name and its manifest's `hash`. */
  hash: string;
  /** The image directory, absolute (the build's $VMPOD_GUEST_CACHE/<hash>). */
  dir: string;
}

export type GuestDirChoice =
  | {
      dir: string;
      /** Why this directory: for `vmpod check` and the error a missing image gives. */
      why: string;
      /** The record that chose it, whose hash the directory's manifest must carry. */
      record?: { path: string; hash: string };
    }
  | { missing: string };

/** The record at `path`, or what is wrong with it. */
export function readGuestRecord(path: string): GuestRecord | { problem: string } {
  let v: unknown;
  try {
    v = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    return { problem: (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : `cannot be read: ${(err as Error).message}` };
  }
  const r = v as Partial<GuestRecord> | null;
  if (typeof r !== 'object' || r === null || r.schema !== 1) return { problem: 'is not a schema 1 guest image record' };
  if (typeof r.hash !== 'string' || !/^[0-9a-f]{64}$/.test(r.hash)) return { problem: 'has no valid "hash"' };
  if (typeof r.dir !== 'string' || !isAbsolute(r.dir)) return { problem: 'has no absolute "dir"' };
  return { schema: 1, hash: r.hash, dir: r.dir };
}

/**
 * The guest directory for a VM handler's configured `guest_dir` (empty or
 * undefined: the one this checkout's build recorded in `recordPath`).
 */
export function chooseGuestDir(configured?: string, recordPath: string = CHECKOUT_GUEST_RECORD): GuestDirChoice {
  if (configured) return { dir: configured, why: `guest_dir = "${configured}" in the handler's config` };
  const checkout = dirname(dirname(recordPath));
  const rec = readGuestRecord(recordPath);
  if ('problem' in rec) {
    return {
      missing:
        `no guest image is recorded for this vmpod (${checkout}): ${recordPath} ${rec.problem}; ` + `run guest-image/build in ${checkout} (scripts/setup does), or set the VM handler's guest_dir`,
    };
  }
  return { dir: rec.dir, why: `guest_dir is empty: the image this checkout's build recorded in ${recordPath}`, record: { path: recordPath, hash: rec.hash } };
}
