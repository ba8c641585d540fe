// Guest mounts: the early pseudo filesystems (normally already mounted by the
// initramfs init; the agent only fills in what is missing) and the 9p share.

import { InvalidArgumentError } from '../../common/errors';
import type { SharedMount } from '../../common/generated/agent/agent';
import { MS } from '../../common/native/syscalls';

export const DEFAULT_MSIZE = 512 * 1024;
const CACHE_MODES = new Set(['none', 'loose', 'fscache', 'mmap']);

export interface EarlyMount {
  target: string;
  type: string;
  source: string;
  options: string;
}

export const EARLY_MOUNTS: EarlyMount[] = [
  { target: '/proc', type: 'proc', source: 'proc', options: 'nosuid,nodev,noexec' },
  { target: '/sys', type: 'sysfs', source: 'sysfs', options: 'nosuid,nodev,noexec' },
  { target: '/dev', type: 'devtmpfs', source: 'devtmpfs', options: 'nosuid' },
  // The agent's own ptys (terminal.ts); containers get a devpts instance of their own.
  { target: '/dev/pts', type: 'devpts', source: 'devpts', options: 'nosuid,noexec,mode=0620,ptmxmode=0666' },
  // The pod's /dev/shm, bound into every container (as a runc pod's is); the size is a runc pod's too.
  { target: '/dev/shm', type: 'tmpfs', source: 'shm', options: 'nosuid,nodev,noexec,mode=1777,size=65536k' },
  { target: '/run', type: 'tmpfs', source: 'tmpfs', options: 'mode=0755,nosuid,nodev' },
  { target: '/sys/fs/cgroup', type: 'cgroup2', source: 'cgroup2', options: 'nsdelegate' },
];

/** Mount points listed in /proc/self/mounts text. */
export function mountedTargets(procMounts: string): Set<string> {
  return new Set(
    procMounts
      .split('\n')
      .map((l) => l.split(' ')[1])
      .filter((x): x is string => !!x),
  );
}

/** busybox mount arguments for one 9p share (validated: these come from the host, but a typo must not become a mount option). */
export function ninePMountArgs(m: SharedMount): string[] {
  if (!/^[A-Za-z0-9_.-]{1,31}$/.test(m.tag)) throw new InvalidArgumentError('shared_mounts.tag', `"${m.tag}" is not a 9p mount tag`);
  if (!m.mount_point.startsWith('/run/') || m.mount_point.includes('..')) {
    throw new InvalidArgumentError('shared_mounts.mount_point', `"${m.mount_point}" must be an absolute path under /run`);
  }
  const msize = m.msize || DEFAULT_MSIZE;
  if (msize < 4096 || msize > 1 << 20) throw new InvalidArgumentError('shared_mounts.msize', `${msize} is outside 4096..1048576`);
  const cache = m.cache || 'mmap';
  if (!CACHE_MODES.has(cache)) throw new InvalidArgumentError('shared_mounts.cache', `"${cache}" is not one of ${[...CACHE_MODES].join(', ')}`);
  const opts = ['trans=virtio', 'version=9p2000.L', `msize=${msize}`, `cache=${cache}`];
  if (m.read_only) opts.push('ro');
  return ['mount', '-t', '9p', '-o', opts.join(','), m.tag, m.mount_point];
}

/** The mount(2) flags busybox mount would turn these generic options into. */
const OPTION_FLAGS: Record<string, number> = { ro: MS.RDONLY, nosuid: MS.NOSUID, nodev: MS.NODEV, noexec: MS.NOEXEC, relatime: MS.RELATIME };

/**
 * busybox `mount -t TYPE -o OPTS SOURCE TARGET` as mount(2) arguments: the
 * generic options become flags, the rest stays the fs-specific data. Lets the
 * agent mount through the addon instead of forking busybox (tens of ms per
 * fork of Node.js under TCG). Pure.
 */
export function mountSyscallArgs(args: string[]): { source: string; target: string; fstype: string; flags: number; data: string } {
  const [verb, t, fstype, o, opts, source, target, ...rest] = args;
  if (verb !== 'mount' || t !== '-t' || o !== '-o' || !fstype || source === undefined || !target || rest.length > 0) {
    throw new InvalidArgumentError('mount', `not a "mount -t TYPE -o OPTS SOURCE TARGET" command: ${args.join(' ').slice(0, 200)}`);
  }
  let flags = 0;
  const data: string[] = [];
  for (const opt of opts.split(',').filter(Boolean)) {
    if (opt in OPTION_FLAGS) flags |= OPTION_FLAGS[opt];
    else data.push(opt);
  }
  return { source, target, fstype, flags, data: data.join(',') };
}

/** busybox mount arguments for an early mount. Pure. */
export function earlyMountArgs(m: EarlyMount): string[] {
  return ['mount', '-t', m.type, '-o', m.options, m.source, m.target];
}
