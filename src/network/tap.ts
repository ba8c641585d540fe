// VM pods: the pod's CNI interface (eth0, a veth) is wired to a tap device
// that QEMU opens, inside the pod netns, with Kata's "tcfilter" model: an
// ingress qdisc on each side and a u32 match-all filter whose action is
// `mirred egress redirect` to the other side. Every frame arriving on eth0
// leaves through the tap into the guest and vice versa, so the guest owns
// the pod IP while CNI keeps managing the veth. The guest NIC takes eth0's
// MAC (so the bridge's neighbours stay valid) and eth0's addresses, routes
// and MTU are handed to the agent. QEMU must be started inside the pod netns
// (nsenter --net=<pin>) to open the tap by name.

import { InternalError } from '../../common/errors';
import { runOk, runSteps, type ScriptStep } from './run';

export const DEFAULT_TAP_NAME = 'tap0_vmpod';
/** The tap's owner when none is given: root, the uid of a QEMU without a jail (hypervisor/qemu/launch.ts). */
export const TAP_OWNER_UID = 0;

export interface GuestAddress {
  family: 4 | 6;
  address: string;
  prefixLen: number;
}

export interface GuestRoute {
  /** CIDR, or "default". */
  dest: string;
  gateway?: string;
  /** Preferred source address, when the kernel route has one. */
  source?: string;
  /** "link" for on-link routes, "universe" otherwise. */
  scope: string;
  family: 4 | 6;
}

/** What the guest's NIC must be configured with. */
export interface GuestNetwork {
  tapName: string;
  /** Name of the interface in the guest; same as the CNI interface so pod software sees eth0. */
  ifName: string;
  mac: string;
  mtu: number;
  addresses: GuestAddress[];
  routes: GuestRoute[];
}

export interface TapOptions {
  /** Pinned pod netns. */
  netns: string;
  /** CNI interface in the pod netns. */
  ifName?: string;
  tapName?: string;
  /** The uid the pod's QEMU runs as: the kernel lets the tap's owner attach it without CAP_NET_ADMIN. */
  ownerUid?: number;
}

interface IpLinkJson {
  ifname: string;
  mtu: number;
  address?: string;
  addr_info?: { family: string; local: string; prefixlen: number; scope: string }[];
}

interface IpRouteJson {
  dst: string;
  gateway?: string;
  prefsrc?: string;
  scope?: string;
  protocol?: string;
}

async function ipJson<T>(netns: string, what: string, args: string[]): Promise<T> {
  const out = await runOk(what, ['ip', '-json', ...args], { netns });
  try {
    return JSON.parse(out || '[]') as T;
  } catch {
    throw new InternalError(`${what}: ip printed invalid JSON`);
  }
}

/** The output of `n` `ip -json` commands run one after the other: one JSON document a line. Pure. */
export function ipJsonLines(out: string, n: number, what: string): unknown[] {
  const lines = out.split('\n').filter((l) => l.trim() !== '');
  if (lines.length !== n) throw new InternalError(`${what}: expected ${n} lines of ip -json output, got ${lines.length}`);
  return lines.map((l) => {
    try {
      return JSON.parse(l) as unknown;
    } catch {
      throw new InternalError(`${what}: ip printed invalid JSON`);
    }
  });
}

/** Pure: `ip -json addr` + routes of the CNI interface → what the guest needs. */
export function guestNetworkFrom(link: IpLinkJson, routes4: IpRouteJson[], routes6: IpRouteJson[], tapName: string): GuestNetwork {
  if (!link.address) throw new InternalError(`interface ${link.ifname} has no MAC address`);
  const addresses: GuestAddress[] = (link.addr_info ?? [])
    // IPv6 link-local addresses are per NIC: the guest makes its own.
    .filter((a) => (a.family === 'inet' || a.family === 'inet6') && a.scope !== 'link')
    .map((a) => ({ family: a.family === 'inet' ? 4 : 6, address: a.local, prefixLen: a.prefixlen }));
  const toRoute =
    (family: 4 | 6) =>
    (r: IpRouteJson): GuestRoute => ({
      dest: r.dst,
      ...(r.gateway ? { gateway: r.gateway } : {}),
      ...(r.prefsrc ? { source: r.prefsrc } : {}),
      scope: r.scope ?? (r.gateway ? 'universe' : 'link'),
      family,
    });
  const routes = [
    ...routes4.map(toRoute(4)),
    // The kernel's fe80::/64 and multicast routes come back by themselves in the guest.
    ...routes6.filter((r) => !r.dst.startsWith('fe80:') && !r.dst.startsWith('ff00:')).map(toRoute(6)),
  ];
  // Routes with a gateway need the on-link route to it first: keep kernel/link routes ahead.
  routes.sort((a, b) => Number(a.gateway !== undefined) - Number(b.gateway !== undefined));
  return { tapName, ifName: link.ifname, mac: link.address, mtu: link.mtu, addresses, routes };
}

/**
 * What the guest's NIC needs, read from the pod's CNI interface (its MAC,
 * MTU, addresses and routes): three `ip -json` in one shell in the netns.
 */
export async function readGuestNetwork(opts: Pick<TapOptions, 'netns' | 'ifName' | 'tapName'>): Promise<GuestNetwork> {
  const ifName = opts.ifName ?? 'eth0';
  const ns = opts.netns;
  const what = `read ${ifName} in ${ns}`;
  const out = await runSteps(
    what,
    [
      { what: `read ${ifName}`, argv: ['ip', '-json', 'addr', 'show', 'dev', ifName] },
      { what: 'read IPv4 routes', argv: ['ip', '-json', '-4', 'route', 'show', 'dev', ifName] },
      { what: 'read IPv6 routes', argv: ['ip', '-json', '-6', 'route', 'show', 'dev', ifName] },
    ],
    { netns: ns },
  );
  const [links, routes4, routes6] = ipJsonLines(out, 3, what) as [IpLinkJson[], IpRouteJson[], IpRouteJson[]];
  const link = links[0];
  if (!link) throw new InternalError(`pod netns ${ns} has no interface ${ifName}: did CNI ADD run?`);
  return guestNetworkFrom(link, routes4, routes6, opts.tapName ?? DEFAULT_TAP_NAME);
}

/**
 * The commands that make the tap (unless it `exists`) and wire it to
 * `ifName` both ways, in order. Pure.
 */
export function tapWiring(o: { ifName: string; tapName: string; ownerUid: number; mtu: number; exists: boolean }): ScriptStep[] {
  const { ifName, tapName: tap } = o;
  const steps: ScriptStep[] = [];
  // Owned by the uid QEMU runs as: the kernel lets the tap's owner attach
  // it without CAP_NET_ADMIN, which QEMU does not hold, and no other uid.
  if (!o.exists) steps.push({ what: 'create tap', argv: ['ip', 'tuntap', 'add', 'dev', tap, 'mode', 'tap', 'user', String(o.ownerUid)] });
  steps.push({ what: 'set tap mtu, up', argv: ['ip', 'link', 'set', 'dev', tap, 'mtu', String(o.mtu), 'up'] });
  for (const [from, to] of [
    [ifName, tap],
    [tap, ifName],
  ]) {
    steps.push({ what: `ingress qdisc on ${from}`, argv: ['tc', 'qdisc', 'add', 'dev', from, 'handle', 'ffff:', 'ingress'] });
    steps.push({
      what: `redirect ${from} → ${to}`,
      argv: ['tc', 'filter', 'add', 'dev', from, 'parent', 'ffff:', 'protocol', 'all', 'u32', 'match', 'u8', '0', '0', 'action', 'mirred', 'egress', 'redirect', 'dev', to],
    });
  }
  return steps;
}

/** Create a tap owned by `ownerUid` in `netns` (not wired to anything). */
export async function createTap(netns: string, tapName: string, ownerUid: number): Promise<void> {
  await runOk(`create tap ${tapName}`, ['ip', 'tuntap', 'add', 'dev', tapName, 'mode', 'tap', 'user', String(ownerUid)], { netns });
}

/**
 * Move a link (a tap QEMU already holds open) from `netns` into `toNetns`
 * (a pinned netns path): the open tap fd stays attached to it.
 */
export async function moveLink(netns: string, name: string, toNetns: string): Promise<void> {
  await runOk(`move ${name} to ${toNetns}`, ['ip', 'link', 'set', 'dev', name, 'netns', toNetns], { netns });
}

/**
 * Create the tap and the redirects; returns what the VM and the agent need.
 * `existing`: the tap is already in the netns (a pool VM's, moved there by
 * moveLink) and this is what readGuestNetwork read: only the redirects are
 * made. Two spawns in all (the read, then every write in one shell), where
 * a spawn per command cost a cold VM pod ~0.1–0.15 s.
 */
export async function attachTap(opts: TapOptions & { existing?: GuestNetwork }): Promise<GuestNetwork> {
  const ifName = opts.ifName ?? 'eth0';
  const tap = opts.tapName ?? DEFAULT_TAP_NAME;
  const ns = opts.netns;
  const guest = opts.existing ?? (await readGuestNetwork(opts));
  try {
    await runSteps(`wire ${tap} to ${ifName}`, tapWiring({ ifName, tapName: tap, ownerUid: opts.ownerUid ?? TAP_OWNER_UID, mtu: guest.mtu, exists: opts.existing !== undefined }), { netns: ns });
  } catch (err) {
    await detachTap(opts).catch(() => undefined);
    throw err;
  }
  return guest;
}

/** Remove the redirects and the tap. Idempotent; fine when the netns or eth0 is already gone. */
export async function detachTap(opts: TapOptions): Promise<void> {
  const ifName = opts.ifName ?? 'eth0';
  const tap = opts.tapName ?? DEFAULT_TAP_NAME;
  const ns = opts.netns;
  const links = await ipJson<{ ifname: string }[]>(ns, `list links in ${ns}`, ['link', 'show']);
  const names = new Set(links.map((l) => l.ifname));
  if (names.has(ifName)) {
    const out = await runOk('list qdiscs', ['tc', '-json', 'qdisc', 'show', 'dev', ifName], { netns: ns });
    const qdiscs = JSON.parse(out || '[]') as { kind: string }[];
    if (qdiscs.some((q) => q.kind === 'ingress')) await runOk(`remove ingress qdisc of ${ifName}`, ['tc', 'qdisc', 'del', 'dev', ifName, 'ingress'], { netns: ns });
  }
  // Deleting the tap drops its qdisc and filters with it.
  if (names.has(tap)) await runOk(`remove ${tap}`, ['ip', 'link', 'del', 'dev', tap], { netns: ns });
}
