// Guest CIDs for vhost-vsock: unique per host, never 0 (hypervisor), 1
// (loopback) or 2 (host), persisted so that a restarted daemon does not hand
// a running VM's CID to a new one. One JSON file {cid: owner}; callers
// serialize through this one allocator (the daemon has one).

import { InvalidArgumentError, ResourceExhaustedError } from '../../common/errors';
import { numberOf, readOwners, writeOwners } from './owner-file';

export const FIRST_GUEST_CID = 3;
/** Plenty for one host, and keeps the allocation file small. */
export const DEFAULT_MAX_CID = 65_535;

export class CidAllocator {
  private owners: Map<number, string>;
  /** CIDs something outside vmpod holds (another hypervisor's VMs): skipped until the daemon restarts. */
  private readonly foreign = new Set<number>();

  constructor(
    private readonly file: string,
    private readonly maxCid = DEFAULT_MAX_CID,
  ) {
    this.owners = readOwners(file, (cid) => cid >= FIRST_GUEST_CID);
  }

  /** The CID of `owner`, allocating the lowest free one if it has none. */
  allocate(owner: string): number {
    if (!owner) throw new InvalidArgumentError('cid owner', 'must not be empty');
    const existing = this.lookup(owner);
    if (existing !== undefined) return existing;
    for (let cid = FIRST_GUEST_CID; cid <= this.maxCid; cid++) {
      if (!this.owners.has(cid) && !this.foreign.has(cid)) {
        this.owners.set(cid, owner);
        try {
          this.save();
        } catch (err) {
          this.owners.delete(cid);
          throw err;
        }
        return cid;
      }
    }
    throw new ResourceExhaustedError(`no free vsock CID in [${FIRST_GUEST_CID}, ${this.maxCid}]; remove stopped pods`);
  }

  lookup(owner: string): number | undefined {
    return numberOf(this.owners, owner);
  }

  /** Free `owner`'s CID; a no-op if it has none. */
  release(owner: string): void {
    const cid = this.lookup(owner);
    if (cid === undefined) return;
    this.owners.delete(cid);
    this.save();
  }

  /** Give `from`'s CID to `to` (a pre-booted pool VM handed to a pod keeps its CID); false if `from` has none. */
  transfer(from: string, to: string): boolean {
    const cid = this.lookup(from);
    if (cid === undefined || !to) return false;
    this.owners.set(cid, to);
    this.save();
    return true;
  }

  /** Never hand out `cid` again in this process: QEMU found it taken by a VM vmpod does not know. */
  setAsideForeign(cid: number): void {
    this.foreign.add(cid);
  }

  allocated(): Map<number, string> {
    return new Map(this.owners);
  }

  private save(): void {
    writeOwners(this.file, this.owners);
  }
}

/** How QEMU fails when the vhost-vsock CID is held by another VM on the host. */
export function isCidInUseError(err: unknown): boolean {
  return /vhost-vsock: unable to set guest cid: Address already in use/.test(err instanceof Error ? err.message : String(err));
}

/**
 * Runs `start` with `owner`'s CID. When QEMU says another VM on the host
 * (not one of vmpod's: those are all in the allocator) holds that CID, the
 * CID is set aside and the next free one is tried, at most `tries` times in
 * all; any other failure, or the last clash, is thrown as it came.
 */
export async function startWithFreeCid<T>(cids: CidAllocator, owner: string, start: (cid: number) => Promise<T>, onClash: (cid: number) => void = () => undefined, tries = 8): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const cid = cids.allocate(owner);
    try {
      return await start(cid);
    } catch (err) {
      if (!isCidInUseError(err) || attempt >= tries) throw err;
      onClash(cid);
      cids.setAsideForeign(cid);
      cids.release(owner);
    }
  }
}
