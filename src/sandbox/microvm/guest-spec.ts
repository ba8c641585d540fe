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
//   * mount propagation is made private: no mount event crosses 9p, so
//     HostToContainer/Bidirectional cannot be honoured and rshared would
//     only leak guest mounts between containers.

import { posix } from 'node:path';
import { InternalError, InvalidArgumentError } from '../../errors';
import type { ContainerConfig__Output } from '../../generated/cri/runtime/v1/ContainerConfig';
import { ALL_CAPABILITIES } from '../../oci/capabilities';
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

/** Refuse what a VM cannot give a container, with a reason the user can act on. */
export function checkVmContainerConfig(config: Pick<ContainerConfig__Output, 'devices' | 'linux'>): void {
  if (config.devices.length > 0) {
    throw new InvalidArgumentError('config.devices', 'host devices cannot be passed into a VM pod; run this pod as a trusted (runc) pod');
  }
  if (config.linux?.security_context?.privileged) {
    throw new InvalidArgumentError('config.linux.security_context.privileged', 'a privileged container cannot run in a VM pod; run this pod as a trusted (runc) pod');
  }
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
  let options = m.options;
  const prop = options.find((o) => PROPAGATION.has(o));
  if (prop && prop !== 'rprivate' && prop !== 'private') {
    notes.push({ message: 'mount propagation cannot cross into a VM; using rprivate', detail: { destination: dest, requested: prop } });
  }
  options = ['rprivate', ...options.filter((o) => !PROPAGATION.has(o))];
  return { ...m, source, options };
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
    },
  };
  delete spec.linux.rootfsPropagation;
  return { spec, notes };
}
