// mount(2) and umount2(2) for the daemon's own mounts on the pod and
// container paths (a container's overlay rootfs, a pod's /dev/shm, the netns
// pins), made through the native addon (common/native/syscalls.ts) instead
// of spawning util-linux mount/umount. Node forks the whole daemon for every
// child and waits for its exec: 5-8 ms of the event loop per spawn on these
// machines (`node --cpu-prof`: ChildProcess.spawn was the daemon's largest
// self time in bench/runc-pod's lifecycle), plus the program's own start;
// the syscall itself takes well under a millisecond.
//
// Synchronous on purpose, like fsync of a record: mounting overlayfs, tmpfs
// or a bind never waits on I/O. An overlayfs umount does (the kernel syncs
// the upper filesystem when the last reference goes), so callers unmount a
// rootfs with the program still; see image/snapshots.ts.
//
// Without the addon (a host where it was not built) every call says so by
// returning false, and the caller runs the program as before.

import { InternalError } from '../../common/errors';
import { AddonUnavailableError } from '../../common/native/addon';
import { MNT, MS, mount, umount } from '../../common/native/syscalls';

export interface MountSyscalls {
  mount(source: string, target: string, fstype: string, flags: number, data: string | null): void;
  umount(target: string, flags: number): void;
}

const native: MountSyscalls = { mount, umount };

/** What the kernel takes as flags among mount(8)'s `-o` words; the rest is the filesystem's data string. */
const FLAG_WORDS: Record<string, number> = {
  ro: MS.RDONLY,
  nosuid: MS.NOSUID,
  nodev: MS.NODEV,
  noexec: MS.NOEXEC,
  relatime: MS.RELATIME,
};

/** mount(8)'s `-o` list split into mount(2)'s flags and data (pure); `rw` is no flag at all. */
export function splitMountOptions(options: string): { flags: number; data: string } {
  let flags = 0;
  const data: string[] = [];
  for (const word of options.split(',').filter(Boolean)) {
    if (word === 'rw') continue;
    const bit = FLAG_WORDS[word];
    if (bit === undefined) data.push(word);
    else flags |= bit;
  }
  return { flags, data: data.join(',') };
}

/** The addon is missing: the caller falls back to the program. Any other error is the syscall's own. */
function unavailable(err: unknown): boolean {
  return err instanceof AddonUnavailableError;
}

/** The syscall's refusal as INTERNAL, with the addon's words (`mount EPERM (operation not permitted) '<target>'`). */
function refused(what: string, err: unknown): InternalError {
  return new InternalError(`${what} failed: ${(err as Error).message}`, { cause: err });
}

/** Why a mount failed, in mount(8)'s words (its stderr) or the syscall's (the addon's error, kept as the cause). */
export function mountFailureWords(err: unknown): string {
  return (err as { stderr?: string }).stderr?.trim() || ((err as Error).cause as Error | undefined)?.message || (err as Error).message;
}

/**
 * mount(2) of `fstype` from `source` on `target` with mount(8)-style
 * `options`; false when the addon is unavailable. A refusal is INTERNAL.
 */
export function mountDirect(source: string, target: string, fstype: string, options: string, sys: MountSyscalls = native): boolean {
  const { flags, data } = splitMountOptions(options);
  try {
    sys.mount(source, target, fstype, flags, data || null);
    return true;
  } catch (err) {
    if (unavailable(err)) return false;
    throw refused(`mounting ${fstype} on ${target}`, err);
  }
}

/**
 * mount(2) with flags only, as mount(8) makes a bind (MS_BIND), a
 * propagation change (MS_PRIVATE, MS_SHARED) or a bind remount (MS_REMOUNT |
 * MS_BIND | per-mount flags): false without the addon. A refusal is
 * INTERNAL, naming `what` and the target.
 */
export function mountFlags(what: string, source: string, target: string, flags: number, sys: MountSyscalls = native): boolean {
  try {
    sys.mount(source, target, '', flags, null);
    return true;
  } catch (err) {
    if (unavailable(err)) return false;
    throw refused(`${what}: mount(2) of ${target}`, err);
  }
}

/** `mount --bind dir dir` then `mount --make-shared dir` (the second alone when `dir` is already a mount point); false without the addon. */
export function bindShared(dir: string, alreadyMounted: boolean, sys: MountSyscalls = native): boolean {
  try {
    if (!alreadyMounted) sys.mount(dir, dir, '', MS.BIND, null);
    sys.mount('none', dir, '', MS.SHARED, null);
    return true;
  } catch (err) {
    if (unavailable(err)) return false;
    throw refused(`making ${dir} a shared bind mount`, err);
  }
}

export type UnmountResult = 'unmounted' | 'not-mounted' | 'detached';

/**
 * umount2(2) of `target`, idempotently: 'not-mounted' when nothing is mounted
 * there (EINVAL) or the path is gone (ENOENT); with `lazy` a detach at once,
 * else a busy mount (a process still uses it) is detached so that removing
 * the directories below cannot hang ('detached'). null without the addon;
 * any other refusal is INTERNAL.
 */
export function unmountDirect(target: string, opts: { lazy?: boolean } = {}, sys: MountSyscalls = native): UnmountResult | null {
  try {
    sys.umount(target, opts.lazy ? MNT.DETACH : 0);
    return opts.lazy ? 'detached' : 'unmounted';
  } catch (err) {
    if (unavailable(err)) return null;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EINVAL' || code === 'ENOENT') return 'not-mounted';
    if (code !== 'EBUSY' || opts.lazy) throw refused(`unmounting ${target}`, err);
  }
  try {
    sys.umount(target, MNT.DETACH);
  } catch (err) {
    throw refused(`detaching ${target}`, err);
  }
  return 'detached';
}
