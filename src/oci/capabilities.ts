// Capability sets. A container never gets a capability the daemon itself
// lacks (runc would fail to grant it, e.g. CAP_SYS_RESOURCE on these hosts):
// such capabilities are removed and reported as notes for the log.

import type { Capability__Output } from '../generated/cri/runtime/v1/Capability';
import type { OciCapabilities } from './types';
import type { SpecNote } from './input';

/** Linux capabilities by number (linux/capability.h, up to CAP_CHECKPOINT_RESTORE). */
export const ALL_CAPABILITIES = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE', 'CAP_NET_BROADCAST', 'CAP_NET_ADMIN',
  'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER', 'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT', 'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE', 'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL', 'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG', 'CAP_WAKE_ALARM', 'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ',
  'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
] as const;

/** containerd's (and Docker's) default set for unprivileged containers. */
export const DEFAULT_CAPABILITIES = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];

/** "net_admin", "NET_ADMIN", "CAP_NET_ADMIN" → "CAP_NET_ADMIN"; "ALL" stays "ALL". */
export function normalizeCapability(name: string): string {
  const up = name.trim().toUpperCase();
  if (up === 'ALL') return up;
  return up.startsWith('CAP_') ? up : `CAP_${up}`;
}

/** Parses a /proc/<pid>/status Cap* hex mask into capability names. */
export function capabilitiesFromMask(hex: string): Set<string> {
  const mask = BigInt(`0x${hex.trim()}`);
  const out = new Set<string>();
  ALL_CAPABILITIES.forEach((name, bit) => {
    if ((mask >> BigInt(bit)) & 1n) out.add(name);
  });
  return out;
}

export function resolveCapabilities(
  caps: Capability__Output | null,
  privileged: boolean,
  daemonCaps: ReadonlySet<string>,
  notes: SpecNote[],
): OciCapabilities {
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
