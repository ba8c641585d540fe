// QEMU's jail: its own mount namespace whose root is an empty tmpfs holding
// only what this VM needs, at the same paths as on the host (so that no path
// in QEMU's command line, its run dir or the daemon changes):
//
//   /usr (read-only: the binary, its libraries, modules, firmware and ROMs,
//   and the setpriv that drops to the VM's uid), the host's top-level
//   symlinks into it (/bin, /lib, /lib64, /sbin on merged-/usr hosts), the
//   guest image files (read-only; not a VM-image pod's disks: QEMU gets
//   those as fds, disk-files.ts), the VM's run dir (its sockets), the pod's
//   two 9p share dirs (recursively, with their submounts), the device nodes
//   it opens, and
//   a proc of its own that shows only its own process (hidepid=invisible,
//   subset=pid: QEMU's 9p server needs /proc/self/fd).
//
// Nothing else of the host exists there: no /etc, /root, /home, /sys, no other
// pod's dir, no state dir beyond this pod's shares. The jail is built as root
// in a mount namespace of its own whose mounts are the host's slaves (so no
// mount made in it reaches the host), then pivot_root, and the old root is
// detached; only then setpriv drops to the pod's uid and execs QEMU. Every
// step execs, so the PID the daemon spawned is QEMU's. What builds it is
// native/infra's vmpod-jail, with system calls (~7 ms); where that is not
// built, a small shell after `unshare --mount --propagation slave` does the
// same with ~45 programs (mkdir, mount, ln: ~0.2 s of every VM's start).
//
// Mounts the daemon makes in the pod's shares after QEMU started (container
// rootfs, volumes) reach the jail by propagation: the host's share mounts are
// shared (share.ts) and the jail's copies are their slaves, so they receive
// and never send.

import { existsSync, lstatSync, readlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { projectRoot } from '../../paths';
import type { VmConfig } from '../vm-config';

/** One entry of the jail's mount plan; `path` is the same inside and outside. */
export type JailEntry =
  /** A bind of one mount: read-only, or with the source's own flags (the run dir). */
  | { kind: 'ro' | 'rw'; path: string }
  /** A recursive bind that keeps every mount's flags (a 9p share: its read-only bind and what is mounted below). */
  | { kind: 'tree'; path: string }
  | { kind: 'dev'; path: string }
  | { kind: 'link'; path: string; target: string };

/** The jail's root mount point, in the run dir (an empty dir on the host; the tmpfs on it exists only in QEMU's namespace). */
export const JAIL_ROOT_NAME = 'jail';

/** Device nodes QEMU may open; only those that exist on the host are bound. */
export const JAIL_DEVICES = ['/dev/null', '/dev/zero', '/dev/urandom', '/dev/random', '/dev/kvm', '/dev/net/tun', '/dev/vhost-net', '/dev/vhost-vsock'] as const;

/** The host's top-level directories that are symlinks into /usr on merged-/usr systems. */
export const USR_LINKS = ['/bin', '/sbin', '/lib', '/lib64', '/libx32', '/lib32'] as const;

/** What launch finds on the host: which of USR_LINKS are symlinks (to what) and which devices exist. */
export interface JailHostFacts {
  links: Record<string, string>;
  devices: string[];
  /** native/infra's vmpod-jail, when it is built; absent: the shell builds the jail. */
  helper?: string;
}

/** Where native/infra/build.sh puts vmpod-jail. */
export function jailHelperPath(): string {
  return join(projectRoot(), 'native', 'infra', 'build', 'vmpod-jail');
}

export function jailHostFacts(): JailHostFacts {
  const links: Record<string, string> = {};
  for (const p of USR_LINKS) {
    try {
      if (lstatSync(p).isSymbolicLink()) links[p] = readlinkSync(p);
    } catch {
      /* absent */
    }
  }
  const helper = jailHelperPath();
  return { links, devices: JAIL_DEVICES.filter((d) => existsSync(d)), ...(existsSync(helper) ? { helper } : {}) };
}

/**
 * The jail's mount plan for VM `c`, in order (pure). A host without merged
 * /usr (real /lib, /bin dirs) gets them bound read-only instead of linked.
 */
export function jailPlan(
  c: Pick<VmConfig, 'runDir' | 'boot' | 'rootfs' | 'sharedDir' | 'volumeDir' | 'shares' | 'accel' | 'agent' | 'network' | 'netnsPath'>,
  facts: JailHostFacts,
  qemuBinary = 'qemu-system-x86_64',
): JailEntry[] {
  const plan: JailEntry[] = [{ kind: 'ro', path: '/usr' }];
  // A configured binary outside /usr (its libraries must then be in /usr too).
  if (qemuBinary.startsWith('/') && !qemuBinary.startsWith('/usr/')) plan.push({ kind: 'ro', path: qemuBinary });
  for (const p of USR_LINKS) {
    const target = facts.links[p];
    if (target !== undefined) plan.push({ kind: 'link', path: p, target });
  }
  for (const p of ['/bin', '/lib', '/lib64']) if (facts.links[p] === undefined) plan.push({ kind: 'ro', path: p });
  for (const f of [c.boot?.kernel, c.boot?.initrd, c.rootfs?.path]) if (f !== undefined) plan.push({ kind: 'ro', path: f });
  plan.push({ kind: 'rw', path: c.runDir });
  if (c.sharedDir) plan.push({ kind: 'tree', path: c.sharedDir });
  if (c.volumeDir) plan.push({ kind: 'tree', path: c.volumeDir });
  // A VM-image pod's mounts: a read-only one bound read-only, a writable one with what is mounted below it.
  for (const s of c.shares ?? []) plan.push({ kind: s.readOnly ? 'ro' : 'tree', path: s.path });
  const wanted = new Set<string>(['/dev/null', '/dev/zero', '/dev/urandom', '/dev/random']);
  if (c.accel === 'kvm') wanted.add('/dev/kvm');
  // A VM in a network namespace of its own may get its NIC hot-plugged later by tap name (a pre-booted pool VM: sandbox/microvm/pool.ts).
  const mayHaveNic = c.network !== undefined || c.netnsPath !== undefined;
  if (mayHaveNic) wanted.add('/dev/net/tun');
  // A NIC under kvm is vhost-net backed, hot-plugged ones too (hotplug.ts).
  if (mayHaveNic && c.accel === 'kvm') wanted.add('/dev/vhost-net');
  if (c.agent?.transport === 'vsock') wanted.add('/dev/vhost-vsock');
  for (const d of facts.devices) if (wanted.has(d)) plan.push({ kind: 'dev', path: d });
  return plan;
}

/** The jail's root mount point for a VM with run dir `runDir`. Pure. */
export function jailRoot(runDir: string): string {
  return join(runDir, JAIL_ROOT_NAME);
}

/**
 * Builds the jail and execs the rest (vmpod-jail.c makes the same mounts in
 * the same order with system calls): `$1` is the root, then `kind path`
 * pairs (or `link path target` triples) up to `--`. A bind is made on a
 * mount point of its own kind (dir or file); `ro` binds are remounted
 * read-only, nosuid and nodev; `rw` and `dev` binds keep the flags of the
 * mount they come from (device binds keep their nodes: the tmpfs under them
 * is nodev, their own mounts are /dev's); a `tree` is bound recursively and
 * keeps every mount's flags (the share's read-only bind, the nosuid,nodev
 * binds below it), and as a copy of a shared host mount in a slave
 * namespace it is the host's slave: later binds reach it.
 * Any failure ends it with the message on QEMU's stderr (exit 125).
 */
export const JAIL_SCRIPT = [
  'set -e',
  'r=$1; shift',
  'mkdir -p "$r"',
  'mount -t tmpfs -o mode=0755,nosuid,nodev,size=1m vmpod-jail "$r"',
  'while [ "$1" != -- ]; do',
  '  k=$1; p=$2; shift 2',
  '  if [ "$k" = link ]; then mkdir -p "$r${p%/*}"; ln -s "$1" "$r$p"; shift; continue; fi',
  '  if [ -d "$p" ]; then mkdir -p "$r$p"; else mkdir -p "$r${p%/*}"; : >"$r$p"; fi',
  '  if [ "$k" = tree ]; then mount --rbind "$p" "$r$p"; else mount --bind "$p" "$r$p"; fi',
  '  if [ "$k" = ro ]; then mount -o remount,bind,ro,nosuid,nodev "$r$p"; fi',
  'done',
  'shift',
  // QEMU's 9p server changes modes through /proc/self/fd/<n> (fchmodat cannot refuse symlinks), and
  // umount reads /proc/self/mountinfo. hidepid=invisible: QEMU's uid sees its own process only;
  // subset=pid: no /proc/sys, /proc/kcore or other system-wide files.
  'mkdir "$r/proc"',
  'mount -t proc -o nosuid,nodev,noexec,hidepid=invisible,subset=pid proc "$r/proc"',
  'cd "$r"',
  'mkdir .old',
  'pivot_root . .old',
  'umount -l /.old',
  'rmdir /.old',
  'mount -o remount,ro,nosuid,nodev /',
  'cd /',
  'exec "$@"',
].join('\n');

/**
 * argv prefix that builds the jail of `plan` at `root` and then execs what
 * follows: vmpod-jail when `o.helper` names it, else unshare and the shell.
 * Both take the same arguments after their own. Pure.
 */
export function jailArgv(plan: JailEntry[], root: string, o: { unshareBinary?: string; shell?: string; helper?: string } = {}): string[] {
  const entries = plan.flatMap((e) => (e.kind === 'link' ? [e.kind, e.path, e.target] : [e.kind, e.path]));
  if (o.helper) return [o.helper, root, ...entries, '--'];
  return [o.unshareBinary ?? 'unshare', '--mount', '--propagation', 'slave', '--', o.shell ?? 'sh', '-c', JAIL_SCRIPT, 'vmpod-jail', root, ...entries, '--'];
}

/** The parent dirs a plan creates in the tmpfs (for tests and docs). Pure. */
export function jailDirs(plan: JailEntry[]): string[] {
  return [...new Set(plan.map((e) => dirname(e.path)))].sort();
}
