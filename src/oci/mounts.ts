// The container's mount table: the standard Linux filesystems, the pod's
// /etc/hosts, /etc/resolv.conf, /etc/hostname and /dev/shm, then the CRI
// mounts (which win over any default at the same destination), parents
// before children.

import { InvalidArgumentError } from '../../common/errors';
import type { Mount__Output } from '../generated/cri/runtime/v1/Mount';
import type { HostFacts, PodContext } from './input';
import type { OciMount } from './types';

/**
 * OCI mount options newer runtimes take (runtime-spec 1.1/1.2) and runc 1.1
 * does not: `rro` (every submount read-only too) and `ridmap` (every
 * submount idmapped to the container's user namespace). The runc controller
 * makes such mounts itself (sandbox/runc/staged-mounts.ts) and hands runc a
 * plain bind of the result.
 */
export const RRO_OPTION = 'rro';
export const RIDMAP_OPTION = 'ridmap';

export function defaultMounts(privileged: boolean): OciMount[] {
  const ro = privileged ? 'rw' : 'ro';
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', ro] },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', ro] },
  ];
}

function plainBind(source: string, destination: string, readonly: boolean): OciMount {
  return { destination, type: 'bind', source, options: ['rbind', 'rprivate', readonly ? 'ro' : 'rw'] };
}

export function podMounts(pod: PodContext, readonlyRootfs: boolean): OciMount[] {
  const out: OciMount[] = [];
  // With a user namespace these are idmapped too: root-owned inside, and (read-only with a
  // read-only rootfs) made so before runc, whose remount a user namespace may refuse.
  const bind = (source: string, destination: string, readonly: boolean): OciMount => {
    const m = plainBind(source, destination, readonly);
    return pod.userns ? { ...m, options: [...m.options, RIDMAP_OPTION] } : m;
  };
  // These files are the pod's, shared by all its containers; a readonly
  // rootfs makes them readonly too (as containerd does).
  if (pod.hostsPath) out.push(bind(pod.hostsPath, '/etc/hosts', readonlyRootfs));
  if (pod.resolvConfPath) out.push(bind(pod.resolvConfPath, '/etc/resolv.conf', readonlyRootfs));
  if (pod.hostnamePath) out.push(bind(pod.hostnamePath, '/etc/hostname', readonlyRootfs));
  out.push(pod.shmPath ? bind(pod.shmPath, '/dev/shm', false) : bind('/dev/shm', '/dev/shm', false));
  return out;
}

const PROPAGATION: Record<string, string> = {
  PROPAGATION_PRIVATE: 'rprivate',
  PROPAGATION_HOST_TO_CONTAINER: 'rslave',
  PROPAGATION_BIDIRECTIONAL: 'rshared',
};

export interface CriMountOptions {
  /** The pod has its own user namespace: every bind is idmapped to it. */
  idmap?: boolean;
}

export function criMounts(mounts: readonly Mount__Output[], host: HostFacts, opts: CriMountOptions = {}): OciMount[] {
  return mounts.map((m, i) => {
    const field = `config.mounts[${i}]`;
    if (!m.container_path.startsWith('/')) throw new InvalidArgumentError(`${field}.container_path`, `"${m.container_path}" is not an absolute path`);
    if (!m.host_path) throw new InvalidArgumentError(`${field}.host_path`, 'is required');
    if (!host.pathExists(m.host_path)) {
      throw new InvalidArgumentError(`${field}.host_path`, `"${m.host_path}" does not exist on the host; create it first or use a hostPath volume of type DirectoryOrCreate/FileOrCreate`);
    }
    const propagation = PROPAGATION[m.propagation] ?? 'rprivate';
    const options = ['rbind', propagation, m.readonly ? 'ro' : 'rw'];
    if (m.recursive_read_only) {
      // What the CRI asks (api.proto): rro only on a read-only bind with private propagation,
      // or a submount could appear later, writable, or flow back to the host.
      if (!m.readonly) throw new InvalidArgumentError(`${field}.recursive_read_only`, 'requires readonly to be true');
      if (propagation !== 'rprivate') throw new InvalidArgumentError(`${field}.recursive_read_only`, `requires PROPAGATION_PRIVATE, not ${m.propagation}`);
      options.push(RRO_OPTION);
    }
    if (opts.idmap) options.push(RIDMAP_OPTION);
    return { destination: m.container_path, type: 'bind', source: m.host_path, options };
  });
}

const depth = (p: string): number => p.split('/').filter(Boolean).length;

/** Defaults first, overridden by later lists at the same destination; parents before children. */
export function mergeMounts(...lists: OciMount[][]): OciMount[] {
  const byDest = new Map<string, OciMount>();
  for (const list of lists)
    for (const m of list) {
      const dest = m.destination.replace(/\/+$/, '') || '/';
      byDest.delete(dest);
      byDest.set(dest, { ...m, destination: dest });
    }
  // Stable sort keeps the default order among equal depths (/dev before /dev/pts anyway).
  return [...byDest.values()].sort((a, b) => depth(a.destination) - depth(b.destination));
}

/** The strongest propagation any mount needs from the rootfs. */
export function rootfsPropagation(mounts: readonly OciMount[]): string | undefined {
  if (mounts.some((m) => m.options.includes('rshared'))) return 'rshared';
  if (mounts.some((m) => m.options.includes('rslave'))) return 'rslave';
  return undefined;
}

export const DEFAULT_MASKED_PATHS = [
  '/proc/acpi',
  '/proc/asound',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
];
export const DEFAULT_READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];
