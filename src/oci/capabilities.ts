// Capability sets. A container never gets a capability the daemon itself
// lacks (runc would fail to grant it, e.g. CAP_SYS_RESOURCE on these hosts):
// such capabilities are removed and reported as notes for the log.

import type { Capability__Output } from '../generated/cri/runtime/v1/Capability';
import type { OciCapabilities } from './types';
import type { SpecNote } from './input';
import { ALL_CAPABILITIES } from '../../common/capabilities';

/** containerd's (and Docker's) default set for unprivileged containers. */
export const DEFAULT_CAPABILITIES = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

/** "net_admin", "NET_ADMIN", "CAP_NET_ADMIN" → "CAP_NET_ADMIN"; "ALL" stays "ALL". */
export function normalizeCapability(name: string): string {
  const up = name.trim().toUpperCase();
  if (up === 'ALL') return up;
  return up.startsWith('CAP_') ? up : `CAP_${up}`;
}

export function resolveCapabilities(caps: Capability__Output | null, privileged: boolean, daemonCaps: ReadonlySet<string>, notes: SpecNote[]): OciCapabilities {
  let set: Set<string>;
  if (privileged) {
    set = new Set(ALL_CAPABILITIES);
  } else {
    set = new Set(DEFAULT_CAPABILITIES);
    const add = (caps?.add_capabilities ?? []).map(normalizeCapability);
    const drop = (caps?.drop_capabilities ?? []).map(normalizeCapability);
    // containerd's order: drop ALL first, then adds, then named drops.
    if (drop.includes('ALL')) set.clear();
    if (add.includes('ALL')) ALL_CAPABILITIES.forEach((c) => set.add(c));
    for (const c of add) if (c !== 'ALL') set.add(c);
    for (const c of drop) if (c !== 'ALL') set.delete(c);
  }
  const granted: string[] = [];
  const withheld: string[] = [];
  for (const c of set) (daemonCaps.has(c) ? granted : withheld).push(c);
  if (withheld.length > 0 && !privileged) {
    notes.push({ message: 'capabilities withheld: the daemon does not hold them', detail: { capabilities: withheld } });
  }
  const ambient = (caps?.add_ambient_capabilities ?? []).map(normalizeCapability).filter((c) => granted.includes(c));
  return { bounding: granted, effective: granted, permitted: granted, inheritable: [], ambient };
}
