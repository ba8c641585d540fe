// One unprivileged uid (and the gid of the same number) per VM pod, for its
// QEMU (qemu/jail.ts). Per pod, not per node: QEMUs of different pods then
// cannot signal or ptrace each other, nor open each other's files through a
// uid they share, as with Kata's rootless mode and Firecracker's jailer.
//
// The uids come from a configured range ([qemu_uid_base, +qemu_uid_count)
// of the handler) that no real user has. The default, 1_900_000_000 +
// 65536, is outside every range systemd documents (system and regular users
// below 60000, dynamic users 61184-65519, container ranges 524288-1879048191,
// the foreign range from 2147352576): a file a guest leaves in a volume is
// owned by a uid no login and no container on the host has. Persisted like
// the vsock CIDs ({uid: owner pod}), so that a restarted daemon does not
// hand a running VM's uid to a new one; freed at RemovePodSandbox.

import { InvalidArgumentError, ResourceExhaustedError } from '../../common/errors';
import { numberOf, readOwners, writeOwners } from './owner-file';

export const DEFAULT_QEMU_UID_BASE = 1_900_000_000;
export const DEFAULT_QEMU_UID_COUNT = 65_536;

/** The lowest uid of [base, base + count) not in `used`, or undefined. Pure. */
export function lowestFreeUid(used: ReadonlySet<number>, base: number, count: number): number | undefined {
  for (let uid = base; uid < base + count; uid++) if (!used.has(uid)) return uid;
  return undefined;
}

/**
 * The file is the only state: every call reads it and writes it back, with
 * synchronous I/O, so that the allocators of several VM handlers of one
 * daemon (one per controller, each with its own range) over the same file
 * never hand out one uid twice.
 */
export class QemuUidAllocator {
  constructor(private readonly file: string) {}

  /** `owner`'s uid, allocating the lowest free one of [base, base + count) if it has none. */
  allocate(owner: string, base = DEFAULT_QEMU_UID_BASE, count = DEFAULT_QEMU_UID_COUNT): number {
    if (!owner) throw new InvalidArgumentError('qemu uid owner', 'must not be empty');
    if (!Number.isInteger(base) || base < 1000 || !Number.isInteger(count) || count < 1 || base + count > 4_294_967_295) {
      throw new InvalidArgumentError('qemu uid range', `[${base}, ${base}+${count}) is not a range of unprivileged uids below 2^32-1`);
    }
    const owners = this.load();
    const existing = numberOf(owners, owner);
    if (existing !== undefined) return existing;
    const uid = lowestFreeUid(new Set(owners.keys()), base, count);
    if (uid === undefined) throw new ResourceExhaustedError(`no free QEMU uid in [${base}, ${base + count}); remove stopped pods or widen qemu_uid_count`);
    owners.set(uid, owner);
    this.save(owners);
    return uid;
  }

  lookup(owner: string): number | undefined {
    return numberOf(this.load(), owner);
  }

  /** Free `owner`'s uid; a no-op if it has none. */
  release(owner: string): void {
    const owners = this.load();
    const uid = numberOf(owners, owner);
    if (uid === undefined) return;
    owners.delete(uid);
    this.save(owners);
  }

  /** Give `from`'s uid to `to` (a pre-booted pool VM handed to a pod keeps its QEMU's uid); false if `from` has none. */
  transfer(from: string, to: string): boolean {
    const owners = this.load();
    const uid = numberOf(owners, from);
    if (uid === undefined || !to) return false;
    owners.set(uid, to);
    this.save(owners);
    return true;
  }

  allocated(): Map<number, string> {
    return this.load();
  }

  /** Uids outside today's range stay recorded: their VMs may still run (the range changed under them). */
  private load(): Map<number, string> {
    return readOwners(this.file, (uid) => uid > 0);
  }

  private save(owners: Map<number, string>): void {
    writeOwners(this.file, owners);
  }
}
