// A pod's user namespace (`hostUsers: false`): kubelet's id mappings from
// NamespaceOption.userns_options, checked before anything is made. The
// request is untrusted: a mapping that reached host uid 0, overlapped
// another, or overflowed would hand the pod ids it must not have, so each
// rule below names the field it refuses.

import { InvalidArgumentError } from '../../common/errors';
import type { IDMapping__Output } from '../generated/cri/runtime/v1/IDMapping';
import type { PodSandboxConfig__Output } from '../generated/cri/runtime/v1/PodSandboxConfig';
import type { OciIdMapping } from './types';

/** The kernel takes at most this many lines in uid_map/gid_map (user_namespaces(7)). */
export const MAX_ID_MAPPINGS = 340;
const ID_LIMIT = 2 ** 32 - 1; // (uid_t)-1 is never a valid id

export interface PodUserns {
  uidMappings: OciIdMapping[];
  gidMappings: OciIdMapping[];
}

function checkRanges(field: string, list: readonly IDMapping__Output[]): OciIdMapping[] {
  if (list.length === 0) throw new InvalidArgumentError(field, 'is empty; a pod user namespace (mode POD) needs at least one mapping');
  if (list.length > MAX_ID_MAPPINGS) throw new InvalidArgumentError(field, `has ${list.length} mappings; the kernel takes at most ${MAX_ID_MAPPINGS}`);
  const out = list.map((m, i): OciIdMapping => {
    const f = `${field}[${i}]`;
    for (const [name, v] of [
      ['host_id', m.host_id],
      ['container_id', m.container_id],
      ['length', m.length],
    ] as const) {
      if (!Number.isInteger(v) || v < 0 || v > ID_LIMIT) throw new InvalidArgumentError(`${f}.${name}`, `${v} is not a 32-bit id`);
    }
    if (m.length === 0) throw new InvalidArgumentError(`${f}.length`, 'is 0');
    if (m.container_id + m.length > ID_LIMIT) throw new InvalidArgumentError(f, `container ids ${m.container_id}+${m.length} run past ${ID_LIMIT - 1}`);
    if (m.host_id + m.length > ID_LIMIT) throw new InvalidArgumentError(f, `host ids ${m.host_id}+${m.length} run past ${ID_LIMIT - 1}`);
    // The point of the namespace: nothing in the pod is root (or any id below the range kubelet allocates from) on the host.
    if (m.host_id === 0) throw new InvalidArgumentError(`${f}.host_id`, 'maps onto host id 0 (root); a pod user namespace must not reach host root');
    return { containerID: m.container_id, hostID: m.host_id, size: m.length };
  });
  const overlaps = (key: 'containerID' | 'hostID'): void => {
    const sorted = out.map((m, i) => ({ m, i })).sort((a, b) => a.m[key] - b.m[key]);
    for (let k = 1; k < sorted.length; k++) {
      const prev = sorted[k - 1];
      const cur = sorted[k];
      if (prev.m[key] + prev.m.size > cur.m[key]) {
        const what = key === 'hostID' ? 'host' : 'container';
        throw new InvalidArgumentError(`${field}[${cur.i}]`, `its ${what} ids overlap those of ${field}[${prev.i}]`);
      }
    }
  };
  overlaps('containerID');
  overlaps('hostID');
  // The container's root must exist inside: the rootfs, the infra process and runc all need it.
  if (!out.some((m) => m.containerID === 0)) throw new InvalidArgumentError(field, 'does not map container id 0 (root)');
  return out;
}

/**
 * The pod's user namespace mappings, or null when it runs with the host's
 * users (mode NODE, or no userns_options from an older kubelet).
 */
export function podUserns(config: PodSandboxConfig__Output): PodUserns | null {
  const u = config.linux?.security_context?.namespace_options?.userns_options;
  const field = 'config.linux.security_context.namespace_options.userns_options';
  if (!u || u.mode === 'NODE') {
    if (u && (u.uids.length > 0 || u.gids.length > 0)) throw new InvalidArgumentError(`${field}.mode`, 'is NODE (host users) but mappings were given');
    return null;
  }
  if (u.mode !== 'POD') throw new InvalidArgumentError(`${field}.mode`, `${u.mode} is not supported; a user namespace is per pod (POD) or the host's (NODE)`);
  return { uidMappings: checkRanges(`${field}.uids`, u.uids), gidMappings: checkRanges(`${field}.gids`, u.gids) };
}

/** The text /proc/<pid>/uid_map (gid_map) takes: one "inside host length" line per mapping. */
export function idMapText(mappings: readonly OciIdMapping[]): string {
  return mappings.map((m) => `${m.containerID} ${m.hostID} ${m.size}\n`).join('');
}
