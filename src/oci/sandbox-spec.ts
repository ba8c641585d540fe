// OCI spec of a pod's infra process: the small static `vmpod-infra` binary
// that holds the pod's namespaces, applies its sysctls and reaps zombies when
// the PID namespace is shared. It runs as an unprivileged user with no
// capabilities from a read-only rootfs holding only itself.

import type { HostFacts, PodNamespaceModes, SpecNote, SpecResult } from './input';
import { OCI_VERSION, type OciSpec } from './types';
import { sandboxNamespaces } from './namespaces';
import { clampOomScoreAdj, DEFAULT_DEVICE_RULES } from './resources';
import { DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS } from './mounts';
import { defaultSeccompProfile } from './seccomp';
import { podCgroupParent } from './container-spec';
import type { PodUserns } from './userns';

/** Same as kubelet's pause container: the last process the OOM killer picks. */
export const INFRA_OOM_SCORE_ADJ = -998;
/** The 65535 "nobody" uid pause images use. */
export const INFRA_UID = 65535;

export interface SandboxSpecInput {
  podId: string;
  hostname: string;
  /** Directory holding only `vmpod-infra`. */
  infraRootfs: string;
  netnsPath: string;
  namespaces: PodNamespaceModes;
  cgroupParent: string;
  sysctls: Record<string, string>;
  host: HostFacts;
  /** The pod's user namespace: its pin (joined by path) and mappings (runc 1.1 wants them even when joining). */
  userns?: PodUserns & { path: string };
}

export function sandboxSpec(input: SandboxSpecInput): SpecResult<OciSpec> {
  const notes: SpecNote[] = [];
  const hostNetwork = input.namespaces.network === 'NODE';
  const spec: OciSpec = {
    ociVersion: OCI_VERSION,
    process: {
      terminal: false,
      user: { uid: INFRA_UID, gid: INFRA_UID },
      args: ['/vmpod-infra'],
      env: ['PATH=/'],
      cwd: '/',
      capabilities: { bounding: [], effective: [], permitted: [], inheritable: [], ambient: [] },
      noNewPrivileges: true,
      oomScoreAdj: clampOomScoreAdj(INFRA_OOM_SCORE_ADJ, input.host.oomScoreAdj, notes),
    },
    root: { path: input.infraRootfs, readonly: true },
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    ],
    annotations: { 'io.kubernetes.cri.container-type': 'sandbox', 'io.kubernetes.cri.sandbox-id': input.podId },
    linux: {
      namespaces: sandboxNamespaces(input.namespaces, input.netnsPath, input.host.cgroupVersion, input.userns?.path),
      cgroupsPath: `${podCgroupParent(input.cgroupParent, input.podId)}/${input.podId}`,
      resources: { devices: DEFAULT_DEVICE_RULES },
      maskedPaths: [...DEFAULT_MASKED_PATHS],
      readonlyPaths: [...DEFAULT_READONLY_PATHS],
      seccomp: defaultSeccompProfile([]),
    },
  };
  if (!hostNetwork && input.hostname) spec.hostname = input.hostname;
  if (input.userns) {
    spec.linux.uidMappings = input.userns.uidMappings.map((m) => ({ ...m }));
    spec.linux.gidMappings = input.userns.gidMappings.map((m) => ({ ...m }));
  }
  if (Object.keys(input.sysctls).length > 0) spec.linux.sysctl = { ...input.sysctls };
  return { spec, notes };
}
