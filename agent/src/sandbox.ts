// CreateSandbox / DestroySandbox: the guest-wide set-up of a pod.

import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidArgumentError } from '../../common/errors';
import type { CreateSandboxRequest } from '../../common/generated/agent/agent';
import { mountWith, mustRun } from './system';
import { ninePMountArgs } from './mounts';
import { configureNetwork } from './network';
import type { AgentDeps } from './deps';

const SYSCTL_KEY = /^[a-z0-9_]+(\.[a-zA-Z0-9_-]+)+$/;
const HOSTNAME = /^[A-Za-z0-9]([A-Za-z0-9.-]{0,62})$/;

export function resolvConf(dns: CreateSandboxRequest['dns']): string {
  const lines: string[] = [];
  for (const ns of dns?.nameservers ?? []) lines.push(`nameserver ${ns}`);
  if (dns?.searches.length) lines.push(`search ${dns.searches.join(' ')}`);
  if (dns?.options.length) lines.push(`options ${dns.options.join(' ')}`);
  return lines.map((l) => l.replace(/[\r\n]/g, '')).join('\n') + '\n';
}

/** IFF_UP in /sys/class/net/<link>/flags; false when it cannot be read. */
async function linkIsUp(sysClassNet: string, link: string): Promise<boolean> {
  const flags = Number.parseInt((await readFile(join(sysClassNet, link, 'flags'), 'utf8').catch(() => '0')).trim(), 16);
  return Number.isInteger(flags) && (flags & 1) === 1;
}

export async function createSandbox(d: AgentDeps, req: CreateSandboxRequest): Promise<void> {
  const bb = d.paths.busybox;
  if (req.guest_time_unix_nano > 0) {
    // Guests under TCG boot with a clock that can be far off; containers and TLS want the host's.
    const secs = Math.floor(req.guest_time_unix_nano / 1e9);
    const r = await d.sys.run(bb, ['date', '-u', '-s', `@${secs}`]);
    if (r.code !== 0) d.log.warn({ stderr: r.stderr.trim() }, 'could not set the guest clock');
  }
  if (req.hostname) {
    if (!HOSTNAME.test(req.hostname)) throw new InvalidArgumentError('hostname', `"${req.hostname.slice(0, 64)}" is not a hostname`);
    await writeFile(join(d.paths.procSys, 'kernel/hostname'), req.hostname);
  }
  await mkdir(d.paths.runDir, { recursive: true });
  await writeFile(join(d.paths.runDir, 'hostname'), `${req.hostname}\n`);
  await writeFile(join(d.paths.runDir, 'hosts'), `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n${req.hostname ? `127.0.1.1\t${req.hostname}\n` : ''}`);
  await writeFile(join(d.paths.runDir, 'resolv.conf'), resolvConf(req.dns));
  for (const [key, value] of Object.entries(req.sysctls)) {
    if (!SYSCTL_KEY.test(key)) throw new InvalidArgumentError('sysctls', `"${key.slice(0, 64)}" is not a sysctl name`);
    await writeFile(join(d.paths.procSys, ...key.split('.')), value);
  }
  for (const [i, m] of req.shared_mounts.entries()) {
    const args = ninePMountArgs(m);
    await mkdir(m.mount_point, { recursive: true });
    await mountWith(d.sys, bb, args);
    if (i === 0) d.setShareDir(m.mount_point);
    d.log.info({ tag: m.tag, at: m.mount_point, options: args[4] }, 'mounted 9p share');
  }
  // The init brings lo up at boot (guest-image/initramfs/init); a fork of the agent only if it did not.
  if (!(await linkIsUp(d.paths.sysClassNet, 'lo'))) await mustRun(d.sys, bb, ['ip', 'link', 'set', 'lo', 'up']);
  // The pod's network last, as UpdateInterface and UpdateRoutes would after this call (one round trip fewer each).
  if (req.interface || req.routes.length > 0) {
    await configureNetwork(d, req.interface, req.routes);
    if (req.interface) d.log.info({ name: req.interface.name, addresses: req.interface.addresses, mtu: req.interface.mtu }, 'interface configured');
  }
  d.log.info({ sandboxId: req.sandbox_id, hostname: req.hostname }, 'sandbox created');
}
