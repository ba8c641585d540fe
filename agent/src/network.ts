// Guest network set-up from what the host's CNI result says: the steps (pure,
// every argument checked and typed), then either the addon's rtnetlink calls
// (no fork) or, in a guest whose addon lacks them, the same steps as busybox
// `ip` command lines run as one script. For UpdateInterface, UpdateRoutes,
// and CreateSandbox with the pod's network.

import { readdirSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { InvalidArgumentError, NotFoundError } from '../../common/errors';
import type { Route, UpdateInterfaceRequest } from '../../common/generated/agent/agent';
import type { GuestNetCalls } from '../../common/native/rtnetlink';
import type { AgentDeps } from './deps';
import { mustRun } from './system';
import { readTextIfThere } from './files';

const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** One `ip` command line's worth of set-up, with checked, typed arguments. */
export type NetStep =
  | { op: 'link-up' | 'link-down' | 'addr-flush'; dev: string }
  | { op: 'link-rename'; dev: string; name: string }
  | { op: 'link-mtu'; dev: string; mtu: number }
  | { op: 'addr-add'; dev: string; address: string; prefixLength: number }
  | {
      op: 'route-replace';
      /** null: "default" (prefix length 0). */
      destination: string | null;
      prefixLength: number;
      gateway?: string;
      device?: string;
      source?: string;
    };

function check(ok: boolean, field: string, value: string, what: string): void {
  if (!ok) throw new InvalidArgumentError(field, `"${value.slice(0, 64)}" is not ${what}`);
}

function ifname(field: string, value: string): string {
  check(IFNAME.test(value), field, value, 'an interface name');
  return value;
}

/** An IP address: its family (4 or 6). */
function ip(field: string, value: string): 4 | 6 {
  // No IPv6 zone ("%eth0"): `ip` reads none, and the device says the same.
  const family = value.includes('%') ? 0 : isIP(value);
  check(family !== 0, field, value, 'an IP address');
  return family as 4 | 6;
}

/** "ADDRESS/PREFIX": the address, its family and the prefix length. */
function cidr(field: string, value: string): { address: string; family: 4 | 6; prefixLength: number } {
  const [address, prefix, ...rest] = value.split('/');
  check(rest.length === 0 && prefix !== undefined && /^\d{1,3}$/.test(prefix), field, value, 'a CIDR address');
  const family = ip(field, address);
  const prefixLength = Number(prefix);
  check(prefixLength <= (family === 4 ? 32 : 128), field, value, `a CIDR address (its prefix is longer than an IPv${family} address)`);
  return { address, family, prefixLength };
}

/** UpdateInterface: the NIC now named `current` renamed (down first), its MTU, its addresses replaced, up. Pure. */
export function interfaceSteps(req: UpdateInterfaceRequest, current: string): NetStep[] {
  const name = ifname('name', req.name);
  ifname('name', current);
  if (req.mtu && (req.mtu < 68 || req.mtu > 65535)) throw new InvalidArgumentError('mtu', `${req.mtu} is outside 68..65535`);
  const addresses = req.addresses.map((a) => cidr('addresses', a));
  const steps: NetStep[] = [];
  if (current !== name) steps.push({ op: 'link-down', dev: current }, { op: 'link-rename', dev: current, name });
  if (req.mtu) steps.push({ op: 'link-mtu', dev: name, mtu: req.mtu });
  steps.push({ op: 'addr-flush', dev: name });
  for (const a of addresses) steps.push({ op: 'addr-add', dev: name, address: a.address, prefixLength: a.prefixLength });
  steps.push({ op: 'link-up', dev: name });
  return steps;
}

/** UpdateRoutes' route `i`: replaced in the main table. Its addresses must be of one family. Pure. */
export function routeStep(r: Route, i: number): NetStep {
  const f = `routes[${i}]`;
  const step: NetStep = { op: 'route-replace', destination: null, prefixLength: 0 };
  const families: number[] = [];
  if (r.destination !== 'default') {
    const d = cidr(`${f}.destination`, r.destination);
    step.destination = d.address;
    step.prefixLength = d.prefixLength;
    families.push(d.family);
  }
  if (r.gateway) {
    families.push(ip(`${f}.gateway`, r.gateway));
    step.gateway = r.gateway;
  }
  if (r.device) step.device = ifname(`${f}.device`, r.device);
  if (r.source) {
    families.push(ip(`${f}.source`, r.source));
    step.source = r.source;
  }
  if (families.some((x) => x !== families[0])) {
    throw new InvalidArgumentError(f, `destination "${r.destination}", gateway "${r.gateway}" and source "${r.source}" are not all of one IP family`);
  }
  return step;
}

/** The busybox `ip` arguments of a step (the fallback without the addon's calls). Pure. */
export function ipArgs(s: NetStep): string[] {
  switch (s.op) {
    case 'link-up':
    case 'link-down':
      return ['link', 'set', 'dev', s.dev, s.op === 'link-up' ? 'up' : 'down'];
    case 'link-rename':
      return ['link', 'set', 'dev', s.dev, 'name', s.name];
    case 'link-mtu':
      return ['link', 'set', 'dev', s.dev, 'mtu', String(s.mtu)];
    case 'addr-flush':
      return ['addr', 'flush', 'dev', s.dev];
    case 'addr-add':
      return ['addr', 'add', `${s.address}/${s.prefixLength}`, 'dev', s.dev];
    case 'route-replace': {
      const a = ['route', 'replace', s.destination === null ? 'default' : `${s.destination}/${s.prefixLength}`];
      if (s.gateway) a.push('via', s.gateway);
      if (s.device) a.push('dev', s.device);
      if (s.source) a.push('src', s.source);
      return a;
    }
  }
}

/** A step through the addon's rtnetlink calls; throws naming the object (and the kernel's reason) as `ip` would fail. */
export function applyStep(net: GuestNetCalls, s: NetStep): void {
  switch (s.op) {
    case 'link-up':
    case 'link-down':
      return net.linkSetUp(s.dev, s.op === 'link-up');
    case 'link-rename':
      return net.linkRename(s.dev, s.name);
    case 'link-mtu':
      return net.linkSetMtu(s.dev, s.mtu);
    case 'addr-flush':
      return net.addrFlush(s.dev);
    case 'addr-add':
      return net.addrAdd(s.dev, s.address, s.prefixLength);
    case 'route-replace':
      return net.routeReplace(s.destination, s.prefixLength, s.gateway ?? null, s.device ?? null, s.source ?? null);
  }
}

/**
 * The interface that has `mac`, read from sysfs (/sys/class/net/<if>/address).
 * Synchronous: sysfs answers at once, and each trip through the thread pool
 * costs the guest a few ms under TCG (~14 ms for this lookup, measured).
 */
export function interfaceByMac(sysClassNet: string, mac: string): string | undefined {
  check(MAC.test(mac.toLowerCase()), 'mac', mac, 'a MAC address');
  let names: string[];
  try {
    names = readdirSync(sysClassNet);
  } catch {
    return undefined;
  }
  return names.find(
    (name) =>
      readTextIfThere(join(sysClassNet, name, 'address'))
        .trim()
        .toLowerCase() === mac.toLowerCase(),
  );
}

/** One argument single-quoted for sh (the arguments are validated above; this keeps even a bad one inert). Pure. */
function shQuote(a: string): string {
  return `'${a.replace(/'/g, "'\\''")}'`;
}

/**
 * `ip` command lines as one `sh -e` script for busybox: one fork of the agent
 * (tens of ms each for Node.js under TCG) instead of one per command, and the
 * first failure stops the rest as the loop of commands did. Pure.
 */
export function ipScript(busybox: string, cmds: string[][]): string {
  return cmds.map((c) => [busybox, 'ip', ...c].map(shQuote).join(' ')).join('\n') + '\n';
}

/**
 * Runs the steps in order, stopping at the first failure: through the
 * addon's rtnetlink calls where the guest's addon has them (no fork), else as
 * one busybox script (one `ip` for one step). Which of the two did it, or
 * undefined for no steps.
 */
export async function runNetSteps(d: Pick<AgentDeps, 'sys' | 'paths'>, steps: readonly NetStep[]): Promise<'rtnetlink' | 'busybox' | undefined> {
  if (steps.length === 0) return undefined;
  const net = d.sys.guestNet?.();
  if (net) {
    for (const s of steps) applyStep(net, s);
    return 'rtnetlink';
  }
  // One step needs no shell around it.
  if (steps.length === 1) await mustRun(d.sys, d.paths.busybox, ['ip', ...ipArgs(steps[0])]);
  else await mustRun(d.sys, d.paths.busybox, ['sh', '-e', '-s'], { input: ipScript(d.paths.busybox, steps.map(ipArgs)) });
  return 'busybox';
}

/**
 * The interface set up as UpdateInterface does (`iface`: the NIC with its MAC
 * renamed, MTU, addresses, up), then the routes as UpdateRoutes does. Every
 * argument is checked before anything runs. Nothing to do, nothing runs.
 */
export async function configureNetwork(d: Pick<AgentDeps, 'sys' | 'paths'>, iface: UpdateInterfaceRequest | null | undefined, routes: readonly Route[]): Promise<'rtnetlink' | 'busybox' | undefined> {
  const steps: NetStep[] = [];
  if (iface) {
    let current = iface.name;
    if (iface.mac) {
      const found = interfaceByMac(d.paths.sysClassNet, iface.mac);
      if (!found) throw new NotFoundError('network interface', iface.mac, 'no guest NIC has this MAC');
      current = found;
    }
    steps.push(...interfaceSteps(iface, current));
  }
  steps.push(...routes.map((r, i) => routeStep(r, i)));
  return runNetSteps(d, steps);
}
