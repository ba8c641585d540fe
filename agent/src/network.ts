// Guest network set-up from what the host's CNI result says, as busybox `ip`
// command lines (pure) plus the MAC → interface lookup, run as one script:
// for UpdateInterface, UpdateRoutes, and CreateSandbox with the pod's network.

import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidArgumentError, NotFoundError } from '../../common/errors';
import type { Route, UpdateInterfaceRequest } from '../../common/generated/agent/agent';
import type { AgentDeps } from './deps';
import { mustRun } from './system';

const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
const CIDR = /^[0-9a-fA-F:.]+\/\d{1,3}$/;
const IP = /^[0-9a-fA-F:.]+$/;

function check(ok: boolean, field: string, value: string, what: string): void {
  if (!ok) throw new InvalidArgumentError(field, `"${value.slice(0, 64)}" is not ${what}`);
}

export function interfaceCommands(req: UpdateInterfaceRequest, current: string): string[][] {
  check(IFNAME.test(req.name), 'name', req.name, 'an interface name');
  check(IFNAME.test(current), 'name', current, 'an interface name');
  if (req.mtu && (req.mtu < 68 || req.mtu > 65535)) throw new InvalidArgumentError('mtu', `${req.mtu} is outside 68..65535`);
  for (const a of req.addresses) check(CIDR.test(a), 'addresses', a, 'a CIDR address');
  const cmds: string[][] = [];
  if (current !== req.name) {
    cmds.push(['link', 'set', 'dev', current, 'down'], ['link', 'set', 'dev', current, 'name', req.name]);
  }
  if (req.mtu) cmds.push(['link', 'set', 'dev', req.name, 'mtu', String(req.mtu)]);
  cmds.push(['addr', 'flush', 'dev', req.name]);
  for (const a of req.addresses) cmds.push(['addr', 'add', a, 'dev', req.name]);
  cmds.push(['link', 'set', 'dev', req.name, 'up']);
  return cmds;
}

export function routeCommand(r: Route, i: number): string[] {
  const f = `routes[${i}]`;
  if (r.destination !== 'default') check(CIDR.test(r.destination), `${f}.destination`, r.destination, 'a CIDR or "default"');
  const cmd = ['route', 'replace', r.destination];
  if (r.gateway) {
    check(IP.test(r.gateway), `${f}.gateway`, r.gateway, 'an IP address');
    cmd.push('via', r.gateway);
  }
  if (r.device) {
    check(IFNAME.test(r.device), `${f}.device`, r.device, 'an interface name');
    cmd.push('dev', r.device);
  }
  if (r.source) {
    check(IP.test(r.source), `${f}.source`, r.source, 'an IP address');
    cmd.push('src', r.source);
  }
  return cmd;
}

/** The interface that has `mac`, read from sysfs (/sys/class/net/<if>/address). */
export async function interfaceByMac(sysClassNet: string, mac: string): Promise<string | undefined> {
  check(MAC.test(mac.toLowerCase()), 'mac', mac, 'a MAC address');
  for (const ifname of await readdir(sysClassNet).catch(() => [] as string[])) {
    const addr = await readFile(join(sysClassNet, ifname, 'address'), 'utf8').catch(() => '');
    if (addr.trim().toLowerCase() === mac.toLowerCase()) return ifname;
  }
  return undefined;
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
 * The interface set up as UpdateInterface does (`iface`: the NIC with its MAC
 * renamed, MTU, addresses, up), then the routes as UpdateRoutes does, as one
 * script: one fork of the agent for both. Every argument is checked before
 * anything runs. Nothing to do, nothing runs.
 */
export async function configureNetwork(d: Pick<AgentDeps, 'sys' | 'paths'>, iface: UpdateInterfaceRequest | null | undefined, routes: readonly Route[]): Promise<void> {
  const cmds: string[][] = [];
  if (iface) {
    let current = iface.name;
    if (iface.mac) {
      const found = await interfaceByMac(d.paths.sysClassNet, iface.mac);
      if (!found) throw new NotFoundError('network interface', iface.mac, 'no guest NIC has this MAC');
      current = found;
    }
    cmds.push(...interfaceCommands(iface, current));
  }
  cmds.push(...routes.map((r, i) => routeCommand(r, i)));
  if (cmds.length > 0) await mustRun(d.sys, d.paths.busybox, ['sh', '-e', '-s'], { input: ipScript(d.paths.busybox, cmds) });
}
