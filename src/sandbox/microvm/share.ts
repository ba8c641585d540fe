// Host-side mounts of a VM pod's 9p share (layout.ts explains the layout):
// the read-only bind that is exported, and per container the rootfs and
// CRI mounts mounted onto mount points inside it. The share's own mounts at
// pod start are mount(2) calls from the daemon (host/mount-calls.ts): six
// forks of util-linux mount were ~0.13 s of a cold VM pod's start. The
// container binds and unmounts still run util-linux mount/umount.

import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, rm, rmdir, stat, unlink, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { InternalError } from '../../../common/errors';
import { MS } from '../../../common/native/syscalls';
import { mountFlags } from '../../host/mount-calls';
import type { ShareBindPropagation } from './propagation';

const exec = promisify(execFile);

async function mountCmd(what: string, args: string[]): Promise<void> {
  try {
    await exec('mount', args, { timeout: 30_000 });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new InternalError(`${what}: mount ${args.join(' ')} failed: ${(e.stderr || e.message).trim()}`, { cause: err });
  }
}

/** mount(2) with `flags` from the daemon; mount(8) with `args` where the addon is missing. */
async function mountSys(what: string, source: string, target: string, flags: number, args: string[]): Promise<void> {
  if (!mountFlags(what, source, target, flags)) await mountCmd(what, args);
}

/** The share's read-only remount: mount(8)'s `-o remount,bind,ro,nosuid,nodev`. */
const SHARE_RO_REMOUNT = MS.REMOUNT | MS.BIND | MS.RDONLY | MS.NOSUID | MS.NODEV;

interface MountEntry {
  path: string;
  /** Per-mount options (mountinfo field 6: rw/ro, nosuid, nodev, noexec, atime). */
  options: string[];
}

/** Every mount of /proc/self/mountinfo (or the text given) with its per-mount options. */
function mountEntries(mountinfo = readFileSync('/proc/self/mountinfo', 'utf8')): MountEntry[] {
  const unescape = (s: string): string => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  return mountinfo
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => f[4] !== undefined && f[5] !== undefined)
    .map((f) => ({ path: unescape(f[4]), options: f[5].split(',') }));
}

/** Mounts at or below `dir` with their per-mount options, parents first (from /proc/self/mountinfo). */
export function mountEntriesUnder(dir: string, mountinfo?: string): MountEntry[] {
  return mountEntries(mountinfo)
    .filter((m) => m.path === dir || m.path.startsWith(`${dir}/`))
    .sort((a, b) => a.path.length - b.path.length);
}

/** Mount points at or below `dir`, deepest first. */
export function mountsUnder(dir: string, mountinfo?: string): string[] {
  return mountEntriesUnder(dir, mountinfo)
    .map((m) => m.path)
    .reverse();
}

const KEPT_FLAGS = new Set(['noexec', 'noatime', 'relatime', 'strictatime', 'nodiratime']);

/**
 * Options to remount one mount the guest reaches through 9p (pure). QEMU
 * acts on what the guest names with the host's semantics: every such mount
 * is nodev,nosuid, so that a device node there never opens a host device
 * (QEMU's own CVE-2023-2861 check refuses that too, but only in builds that
 * have it) and a set-id file never runs set-id through it. `ro` is kept or
 * added, never dropped; noexec and the atime flag are kept (a bind remount
 * replaces all per-mount flags).
 */
export function confinedRemountOptions(current: string[], readonly: boolean): string {
  const ro = readonly || current.includes('ro');
  return ['remount', 'bind', ro ? 'ro' : 'rw', 'nosuid', 'nodev', ...current.filter((o) => KEPT_FLAGS.has(o))].join(',');
}

/** Unmount everything at or below `dir` (lazily, so a busy 9p server cannot wedge pod removal). Idempotent. */
export async function unmountAll(dir: string): Promise<void> {
  for (const m of mountsUnder(dir)) {
    try {
      await exec('umount', ['--lazy', m], { timeout: 30_000 });
    } catch (err) {
      // Gone meanwhile is fine; anything still mounted is an error the caller must see.
      if (mountsUnder(m).includes(m)) throw new InternalError(`cannot unmount ${m}: ${((err as { stderr?: string }).stderr ?? '').trim()}`, { cause: err });
    }
  }
}

/**
 * The exported share: `shared` becomes a private, read-only bind of
 * `shareSource`. Both live in the pod dir, which is made 0700 here: the
 * share holds the binds of every container's rootfs and volumes (secrets,
 * service-account tokens), which no other host user may reach by path. The
 * modes inside the share stay as the guest needs them (0755 mount points:
 * a container's non-root user must traverse them in the guest).
 */
export async function mountShare(shareSource: string, shared: string): Promise<void> {
  await makePrivatePodDir(dirname(shareSource));
  await mkdir(shareSource, { recursive: true, mode: 0o755 });
  await mkdir(shared, { recursive: true, mode: 0o755 });
  await mountSys('pod share', shareSource, shared, MS.BIND, ['--bind', shareSource, shared]);
  // A peer group of its own: private first, so that it leaves the group of
  // the mount it was bound from (mounts made below it must not propagate
  // into the host's tree), then shared, so that the binds made below it
  // later (bindInto) propagate to its copy in QEMU's jail, a slave that
  // receives and never sends (hypervisor/qemu/jail.ts).
  await mountSys('pod share', 'none', shared, MS.PRIVATE, ['--make-private', shared]);
  await mountSys('pod share', 'none', shared, MS.SHARED, ['--make-shared', shared]);
  await mountSys('pod share', 'none', shared, SHARE_RO_REMOUNT, ['-o', 'remount,bind,ro,nosuid,nodev', shared]);
  await ensureStaging(join(dirname(shareSource), STAGING_DIR));
}

/** The pod dir, 0700 whoever made it first (the pod files are written before the share is mounted). */
export async function makePrivatePodDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
}

/** Create `rel` in the share source as an empty dir or file, the mount point for `source`'s kind. */
export async function makeMountPoint(shareSource: string, rel: string, source: string): Promise<void> {
  const target = join(shareSource, rel);
  let isDir: boolean;
  try {
    isDir = (await stat(source)).isDirectory();
  } catch (err) {
    throw new InternalError(`mount source ${source} is not accessible: ${(err as Error).message}`, { cause: err });
  }
  if (isDir) {
    await mkdir(target, { recursive: true, mode: 0o755 });
  } else {
    await mkdir(dirname(target), { recursive: true, mode: 0o755 });
    await writeFile(target, '', { mode: 0o644 });
  }
}

/** The pod dir's staging place for binds (layout.ts): never exported, a private mount of its own. */
export const STAGING_DIR = 'staging';

/**
 * `staging` as a private bind of itself, so that a mount prepared in it can
 * be moved out (the kernel refuses to move a mount whose parent is shared,
 * and the state dir is usually on /run, which systemd makes shared).
 * mountShare makes it at pod start; a pod started by an earlier version
 * gets it on its first bind.
 */
export async function ensureStaging(staging: string, mountinfo?: string): Promise<void> {
  await mkdir(staging, { recursive: true, mode: 0o700 });
  if (mountEntriesUnder(staging, mountinfo).some((m) => m.path === staging)) return;
  await mountSys('bind staging', staging, staging, MS.BIND, ['--bind', staging, staging]);
  await mountSys('bind staging', 'none', staging, MS.PRIVATE, ['--make-private', staging]);
}

/**
 * The staging dir of the share that `target` is in: beside the mount that
 * holds `target` (the pod's `shared` bind). Pure given the mountinfo.
 */
export function stagingFor(target: string, mountinfo?: string): string {
  const share = mountEntries(mountinfo)
    .map((m) => m.path)
    .filter((m) => target.startsWith(`${m}/`))
    .sort((a, b) => b.length - a.length)[0];
  if (share === undefined || share === '/') throw new InternalError(`${target} is not inside a mounted pod share; cannot stage a bind for it`);
  return join(dirname(share), STAGING_DIR);
}

/**
 * Bind `source` onto the mount point `target` (inside the exported share),
 * read-only if asked. Every mount of the recursive bind, submounts of the
 * source included, is remounted nodev,nosuid (and ro): a remount acts on one
 * mount only, and a writable submount under a read-only volume would be a
 * way around it. `rslave` (HostToContainer, propagation.ts) lets mounts the
 * host makes later below `source` reach the share; `rprivate` does not.
 * Neither lets a mount below `target` reach the host.
 *
 * Atomic as the guest sees it: the bind is made and confined in the pod's
 * staging dir, which QEMU does not export, and only then moved onto
 * `target`. Bound straight onto `target`, it would be served to a running
 * guest writable, with devices and set-id bits, until the remounts ran.
 */
export async function bindInto(source: string, target: string, readonly: boolean, propagation: ShareBindPropagation = 'rprivate', staging: string = stagingFor(target)): Promise<void> {
  await ensureStaging(staging);
  const point = join(staging, `${basename(target)}-${randomBytes(6).toString('hex')}`);
  const isDir = (await stat(target)).isDirectory();
  if (isDir) await mkdir(point, { mode: 0o700 });
  else await writeFile(point, '', { mode: 0o600, flag: 'wx' });
  try {
    await mountCmd(`share ${source}`, ['--rbind', source, point]);
    await mountCmd(`share ${source}`, [propagation === 'rslave' ? '--make-rslave' : '--make-rprivate', point]);
    for (const m of mountEntriesUnder(point)) {
      await mountCmd(`share ${source}: confine ${m.path}`, ['-o', confinedRemountOptions(m.options, readonly), m.path]);
    }
    await mountCmd(`share ${source}`, ['--move', point, target]);
  } catch (err) {
    await unmountAll(point).catch(() => undefined);
    throw err;
  } finally {
    // Never recursive: if the bind is still there, removing through it would delete the volume's files.
    if (mountsUnder(point).length === 0) await (isDir ? rmdir(point) : unlink(point)).catch(() => undefined);
  }
}

/** Unmount everything below `dirInShared` and delete its mount points in the share source. Idempotent. */
export async function releaseDir(dirInShared: string, dirInSource: string): Promise<void> {
  await unmountAll(dirInShared);
  await rm(dirInSource, { recursive: true, force: true });
}
