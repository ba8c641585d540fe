// The runc path's OCI spec generator (src/oci) is reused for containers in a
// VM; this module adapts its output to the guest. The spec is generated with
// host paths (so that CRI mount sources and seccomp profiles are checked on
// the host, where they live) and a pod context whose pod-wide namespaces are
// "joined" through /proc/1/ns/*; here:
//   * the rootfs and every bind source become paths under the 9p share as the
//     guest sees it (/run/vmpod/shared/...); a bind source that is not shared
//     with the guest is an error, never silently a guest path of the same name;
//   * namespaces the pod shares (network, UTS, IPC, a shared PID namespace)
//     are dropped: the VM is the pod, so the agent's own namespaces are the
//     pod's and runc's children inherit them;
//   * a bind's propagation in the guest is rprivate: no mount event crosses
//     9p. A HostToContainer volume still sees mounts the host makes later
//     (its bind into the share is rslave on the host, propagation.ts);
//     Bidirectional is refused before this (checkVmContainerConfig);
//   * there are no device nodes: the host passes none of its own (CRI
//     devices are refused; a privileged container's are the guest's, which
//     the agent adds).
//
// Privileged, in a VM pod, means privileged inside the guest (containerd's
// `privileged_without_host_devices`, as Kata runs it): the spec the
// generator makes for a privileged container (every capability, no seccomp
// filter, no masked or read-only paths, /sys and /proc writable, the device
// cgroup open) is run by the agent with the capabilities the agent holds and
// the guest's own devices (agent/src/privileged.ts). None of it reaches the
// host: the container is as strong as the guest's root, which the host
// already treats as hostile, and the guest reaches the host only through
// QEMU (the pod's 9p share, its tap, the agent channel).

import { posix } from 'node:path';
import { InternalError } from '../../../common/errors';
import { ALL_CAPABILITIES } from '../../../common/capabilities';
import type { HostFacts, PodContext, PodNamespaceModes, SpecNote } from '../../oci/input';
import type { OciMount, OciSpec } from '../../oci/types';
import { GUEST_POD_SHM, GUEST_SHARED_DIR } from './layout';

/** PID of the guest's init, whose namespaces every container shares unless it asks for its own. */
export const GUEST_INIT_PID = 1;

/**
 * The facts the spec generator uses, for a container in the guest: files the
 * spec reads (CRI mount sources, seccomp profiles) are the host's; privileges
 * are the guest agent's (root with every capability, cgroup v2, may lower
 * oom_score_adj); there are no host devices.
 */
export function guestHostFacts(host: Pick<HostFacts, 'pathExists' | 'readFile'>): HostFacts {
  return {
    capabilities: new Set<string>(ALL_CAPABILITIES),
    oomScoreAdj: -1000,
    cgroupVersion: 2,
    swapAccounting: true,
    pathExists: (p) => host.pathExists(p),
    readFile: (p) => host.readFile(p),
    statDevice: () => null,
    hostDevices: () => [],
  };
}

/** The pod context for the spec generator, with the VM's pod files under the host share. */
export function guestPodContext(podId: string, hostname: string, namespaces: PodNamespaceModes, podFiles: { hosts: string; resolvConf: string; hostname: string }): PodContext {
  return {
    id: podId,
    hostname,
    netnsPath: '',
    infraPid: GUEST_INIT_PID,
    namespaces,
    // The guest's cgroup tree is the pod's alone: no kubelet hierarchy to nest in.
    cgroupParent: '',
    resolvConfPath: podFiles.resolvConf,
    hostsPath: podFiles.hosts,
    hostnamePath: podFiles.hostname,
    // The VM's own /dev/shm is the pod's (guestMount binds it).
    shmPath: '',
  };
}

export interface GuestSpecInput {
  /** Output of containerSpec with host paths. */
  spec: OciSpec;
  /** Host path of the exported share (PodPaths.shared). */
  sharedHostDir: string;
  /** Share-relative path of the container's rootfs mount point. */
  rootfsRel: string;
  /** CRI mount container_path → share-relative path where its host source is mounted. */
  sharedMounts: ReadonlyMap<string, string>;
}

function underDir(path: string, dir: string): string | undefined {
  const rel = posix.relative(dir, path);
  if (rel === '' || rel.startsWith('..') || posix.isAbsolute(rel)) return undefined;
  return rel;
}

const PROPAGATION = new Set(['rprivate', 'private', 'rslave', 'slave', 'rshared', 'shared', 'runbindable', 'unbindable']);

function guestMount(m: OciMount, i: GuestSpecInput, notes: SpecNote[]): OciMount {
  if (m.type !== 'bind') return m;
  const dest = m.destination.replace(/\/+$/, '') || '/';
  let source: string;
  const shared = i.sharedMounts.get(dest);
  const underShare = underDir(m.source, i.sharedHostDir);
  if (shared !== undefined) source = posix.join(GUEST_SHARED_DIR, shared);
  else if (underShare !== undefined) source = posix.join(GUEST_SHARED_DIR, underShare);
  // The pod's /dev/shm is the guest's own (the VM is the pod).
  else if (m.source === '/dev/shm' && dest === '/dev/shm') source = GUEST_POD_SHM;
  else throw new InternalError(`mount ${dest}: host path ${m.source} is not shared with the VM`);
  // rslave is done on the host (the share's bind): nothing to do in the guest.
  const prop = m.options.find((o) => PROPAGATION.has(o));
  if (prop && !['rprivate', 'private', 'rslave', 'slave'].includes(prop)) {
    notes.push({ message: 'mount propagation cannot cross into a VM; using rprivate', detail: { destination: dest, requested: prop } });
  }
  return { ...m, source, options: ['rprivate', ...m.options.filter((o) => !PROPAGATION.has(o))] };
}

/** Adapt a host-path spec to the guest (pure). */
export function guestSpec(i: GuestSpecInput): { spec: OciSpec; notes: SpecNote[] } {
  const notes: SpecNote[] = [];
  const s = i.spec;
  const spec: OciSpec = {
    ...s,
    root: { ...s.root, path: posix.join(GUEST_SHARED_DIR, i.rootfsRel) },
    mounts: s.mounts.map((m) => guestMount(m, i, notes)),
    linux: {
      ...s.linux,
      namespaces: s.linux.namespaces.filter((n) => n.path === undefined),
      // Never a host device node (a privileged container's devices are the guest's: the agent adds them).
      devices: [],
    },
  };
  delete spec.linux.rootfsPropagation;
  return { spec, notes };
}
