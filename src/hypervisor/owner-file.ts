// A persisted map of small numbers to the pod that owns each (vsock CIDs,
// QEMU uids): one JSON file {version: 1, owners: {number: owner}}, written
// whole and atomically, so a restarted daemon never hands out a number a
// running VM still holds.

import { readJson, writeJsonAtomic } from '../store/atomic';

interface OwnerFile {
  version: 1;
  owners: Record<string, string>;
}

/** The file's owners; entries whose number fails `valid` are dropped, an absent file is empty. */
export function readOwners(file: string, valid: (n: number) => boolean): Map<number, string> {
  const owners = new Map<number, string>();
  let data: OwnerFile | undefined;
  try {
    data = readJson<OwnerFile>(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  for (const [k, owner] of Object.entries(data?.owners ?? {})) {
    const n = Number(k);
    if (Number.isInteger(n) && valid(n) && typeof owner === 'string') owners.set(n, owner);
  }
  return owners;
}

export function writeOwners(file: string, owners: ReadonlyMap<number, string>): void {
  const out: Record<string, string> = {};
  for (const [n, o] of [...owners].sort((a, b) => a[0] - b[0])) out[String(n)] = o;
  writeJsonAtomic(file, { version: 1, owners: out } satisfies OwnerFile);
}

/** The number `owner` holds, if any. */
export function numberOf(owners: ReadonlyMap<number, string>, owner: string): number | undefined {
  for (const [n, o] of owners) if (o === owner) return n;
  return undefined;
}
