// The cloud-init NoCloud data of a VM-image pod (the `cidata` disk the guest
// reads at boot, cidata.ts): meta-data, user-data and network-config v2.
// All pure: what the files say follows from the pod's config and network.
// meta-data and network-config are written as JSON, which is YAML too:
// nothing a pod names (hostname, search domains) can break out of a string.

import { posix } from 'node:path';
import { InvalidArgumentError } from '../../../common/errors';
import type { GuestNetwork } from '../../network';

/** A pod or container annotation whose value is the user-data itself. */
export const USER_DATA_ANNOTATION = 'vmpod.io/cloud-init-user-data';
/** A pod or container annotation naming a file, at a container path inside one of the container's CRI mounts (a Secret), holding the user-data. */
export const USER_DATA_PATH_ANNOTATION = 'vmpod.io/cloud-init-user-data-path';
/** A pod or container annotation choosing the firmware ("seabios" or "ovmf") over the handler's. */
export const FIRMWARE_ANNOTATION = 'vmpod.io/firmware';

/** What the guest gets when the pod gives no user-data: cloud-init runs, configures the network from network-config, and does nothing else. */
export const DEFAULT_USER_DATA = '#cloud-config\n{}\n';

export type UserDataSource = { kind: 'inline'; text: string; from: string } | { kind: 'file'; containerPath: string; from: string } | { kind: 'default' };

/**
 * Where the user-data comes from: the container's annotations first, then
 * the pod's; at each level either the text or a path, not both. Pure.
 */
export function userDataSource(container: Record<string, string>, pod: Record<string, string>): UserDataSource {
  for (const [level, a] of [
    ['container', container],
    ['pod', pod],
  ] as const) {
    const text = a[USER_DATA_ANNOTATION];
    const path = a[USER_DATA_PATH_ANNOTATION];
    if (text !== undefined && path !== undefined) {
      throw new InvalidArgumentError(`${level} annotations`, `both ${USER_DATA_ANNOTATION} and ${USER_DATA_PATH_ANNOTATION} are set; give the user-data one way`);
    }
    if (text !== undefined) return { kind: 'inline', text, from: `${level} annotation ${USER_DATA_ANNOTATION}` };
    if (path !== undefined) {
      if (!posix.isAbsolute(path) || path.split('/').includes('..')) {
        throw new InvalidArgumentError(`${level} annotation ${USER_DATA_PATH_ANNOTATION}`, `"${path}" must be an absolute container path without ".." components`);
      }
      return { kind: 'file', containerPath: posix.normalize(path), from: `${level} annotation ${USER_DATA_PATH_ANNOTATION}` };
    }
  }
  return { kind: 'default' };
}

/** The firmware a pod asks for by annotation (container first, then pod), or the handler's. Pure. */
export function firmwareChoice(container: Record<string, string>, pod: Record<string, string>, handler: 'seabios' | 'ovmf'): 'seabios' | 'ovmf' {
  const v = container[FIRMWARE_ANNOTATION] ?? pod[FIRMWARE_ANNOTATION];
  if (v === undefined) return handler;
  if (v !== 'seabios' && v !== 'ovmf') throw new InvalidArgumentError(`annotation ${FIRMWARE_ANNOTATION}`, `"${v}" is neither "seabios" nor "ovmf"`);
  return v;
}

export interface MountRef {
  container_path: string;
  host_path: string;
}

/**
 * The CRI mount holding `containerPath` (the deepest one, as the container
 * would see it) and the path relative to its root; undefined when none
 * does. The file itself must be below the mount, not the mount point. Pure.
 */
export function mountHolding(containerPath: string, mounts: readonly MountRef[]): { mount: MountRef; rel: string } | undefined {
  let best: { mount: MountRef; rel: string } | undefined;
  for (const m of mounts) {
    const root = posix.normalize(m.container_path);
    const rel = posix.relative(root, containerPath);
    if (rel === '' || rel.startsWith('..') || posix.isAbsolute(rel)) continue;
    if (!best || root.length > posix.normalize(best.mount.container_path).length) best = { mount: m, rel };
  }
  return best;
}

/** meta-data: the instance id (cloud-init runs its once-per-instance modules again when it changes) and the hostname. Pure. */
export function metaData(instanceId: string, hostname: string): string {
  return `${JSON.stringify({ 'instance-id': instanceId, 'local-hostname': hostname }, null, 2)}\n`;
}

export interface DnsSettings {
  servers: string[];
  searches: string[];
}

/** `ip` is inside `addr`/`prefixLen`. IPv6 gateways are link-local or inside the prefix in the CNI set-ups vmpod meets: always true for them. Pure. */
function inPrefix(ip: string, addr: string, prefixLen: number, family: 4 | 6): boolean {
  if (family !== 4) return true;
  const toInt = (a: string): number => a.split('.').reduce((n, o) => n * 256 + Number(o), 0);
  const block = 2 ** (32 - prefixLen);
  return Math.floor(toInt(ip) / block) === Math.floor(toInt(addr) / block);
}

/**
 * network-config version 2: the NIC matched by the MAC the pod network
 * expects (the tc redirect passes frames, and the bridge's neighbours know
 * this MAC), named eth0, with the pod's addresses, routes, MTU and DNS.
 * Routes without a gateway are the connected prefixes of the addresses and
 * come with them; a gateway outside every prefix (a /32 pod address) is
 * marked on-link. Pure.
 */
export function networkConfig(net: Pick<GuestNetwork, 'mac' | 'mtu' | 'addresses' | 'routes'>, dns: DnsSettings): string {
  const routes = net.routes
    .filter((r) => r.gateway)
    .map((r) => {
      const to = r.dest === 'default' ? (r.family === 4 ? '0.0.0.0/0' : '::/0') : r.dest;
      const onLink = !net.addresses.some((a) => a.family === r.family && inPrefix(r.gateway!, a.address, a.prefixLen, a.family));
      return { to, via: r.gateway!, ...(onLink ? { 'on-link': true } : {}) };
    });
  const eth0: Record<string, unknown> = {
    match: { macaddress: net.mac.toLowerCase() },
    'set-name': 'eth0',
    dhcp4: false,
    dhcp6: false,
    addresses: net.addresses.map((a) => `${a.address}/${a.prefixLen}`),
    ...(net.mtu > 0 ? { mtu: net.mtu } : {}),
    ...(routes.length > 0 ? { routes } : {}),
    ...(dns.servers.length > 0 || dns.searches.length > 0 ? { nameservers: { addresses: dns.servers, search: dns.searches } } : {}),
  };
  return `${JSON.stringify({ version: 2, ethernets: { eth0 } }, null, 2)}\n`;
}

/** The name servers of a resolv.conf (the host's, for a pod without DNS config) that a guest can reach: loopback ones (a local stub resolver) are left out. Pure. */
export function resolvConfDns(text: string): DnsSettings {
  const servers: string[] = [];
  const searches: string[] = [];
  for (const line of text.split('\n')) {
    const [key, ...vals] = line.trim().split(/\s+/);
    if (key === 'nameserver' && vals[0] && !vals[0].startsWith('127.') && vals[0] !== '::1') servers.push(vals[0]);
    if (key === 'search') searches.splice(0, searches.length, ...vals);
  }
  return { servers, searches };
}
