// CreateSandbox / DestroySandbox: the guest-wide set-up of a pod.

import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidArgumentError } from '../../common/errors';
import type { CreateSandboxRequest } from '../../common/generated/agent/agent';
import { mountWith } from './system';
import { readTextIfThere } from './files';
import { ninePMountArgs } from './mounts';
import { configureNetwork, runNetSteps } from './network';
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

/** IFF_UP in /sys/class/net/<link>/flags; false when it cannot be read. Synchronous: sysfs answers at once (files.ts says why). */
function linkIsUp(sysClassNet: string, link: string): boolean {
  const flags = Number.parseInt(readTextIfThere(join(sysClassNet, link, 'flags')).trim(), 16);
  return Number.isInteger(flags) && (flags & 1) === 1;
}

/** A Unix time in ns as clock_settime's seconds and nanoseconds (the ns as a double: exact to ~0.25 µs today). Pure. */
export function clockTime(unixNano: number): { seconds: number; nanoseconds: number } {
  const seconds = Math.floor(unixNano / 1e9);
  const nanoseconds = Math.min(999_999_999, Math.max(0, Math.round(unixNano - seconds * 1e9)));
  return { seconds, nanoseconds };
}

/** The guest's wall clock set to the host's: clock_settime through the addon, else busybox `date` (to the second). A failure is logged, not fatal. */
async function setClock(d: AgentDeps, unixNano: number): Promise<void> {
  const t = clockTime(unixNano);
  const net = d.sys.guestNet?.();
  if (net) {
    try {
      net.setRealtimeClock(t.seconds, t.nanoseconds);
    } catch (err) {
      d.log.warn({ err: (err as Error).message }, 'could not set the guest clock');
    }
    return;
  }
  const r = await d.sys.run(d.paths.busybox, ['date', '-u', '-s', `@${t.seconds}`]);
  if (r.code !== 0) d.log.warn({ stderr: r.stderr.trim() }, 'could not set the guest clock');
}

/** The most host entropy CreateSandbox takes (what RNDADDENTROPY is given at once). */
export const MAX_ENTROPY_BYTES = 512;

/**
 * The host's entropy into the kernel's RNG, and a reseed from it: a guest
 * restored from a template (the host's template.ts) would otherwise draw
 * the same bytes as every other VM of that template. Without the addon
 * call the bytes are still mixed in (a write to /dev/urandom), which
 * changes the RNG only at its next own reseed: said in the log.
 */
async function reseedRandom(d: AgentDeps, entropy: Uint8Array): Promise<void> {
  if (entropy.length > MAX_ENTROPY_BYTES) throw new InvalidArgumentError('entropy', `${entropy.length} bytes, more than ${MAX_ENTROPY_BYTES}`);
  try {
    if (!d.sys.reseedRandom) throw new Error('no reseed call on this system');
    d.sys.reseedRandom(entropy);
    d.log.info({ bytes: entropy.length }, 'RNG reseeded from host entropy');
    return;
  } catch (err) {
    d.log.warn({ err: (err as Error).message }, 'could not reseed the RNG; mixing the host entropy in only');
  }
  await writeFile(d.paths.urandom, entropy);
}

export async function createSandbox(d: AgentDeps, req: CreateSandboxRequest): Promise<void> {
  const start = performance.now();
  const bb = d.paths.busybox;
  // First: everything after this (and every container) draws from a reseeded RNG.
  if (req.entropy.length > 0) await reseedRandom(d, req.entropy);
  // Guests under TCG boot with a clock that can be far off; containers and TLS want the host's.
  if (req.guest_time_unix_nano > 0) await setClock(d, req.guest_time_unix_nano);
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
  // The init brings lo up at boot (guest-image/initramfs/init); only if it did not.
  if (!linkIsUp(d.paths.sysClassNet, 'lo')) await runNetSteps(d, [{ op: 'link-up', dev: 'lo' }]);
  // The pod's network last, as UpdateInterface and UpdateRoutes would after this call (one round trip fewer each).
  if (req.interface || req.routes.length > 0) {
    const t0 = performance.now();
    const how = await configureNetwork(d, req.interface, req.routes);
    const ms = Math.round(performance.now() - t0);
    if (req.interface) d.log.info({ name: req.interface.name, addresses: req.interface.addresses, mtu: req.interface.mtu, routes: req.routes.length, how, ms }, 'interface configured');
  }
  d.log.info({ ms: Math.round(performance.now() - start), sandboxId: req.sandbox_id, hostname: req.hostname }, 'sandbox created');
}
