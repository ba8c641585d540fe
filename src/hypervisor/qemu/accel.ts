// Which accelerator and which agent transport this host can really use.
//
// `/dev/kvm` existing proves little: on the development machines it is a
// nested, paravirtual KVM on which firmware runs (SeaBIOS prints its banner)
// but a Linux guest does not boot. So `auto` picks kvm only after a probe
// boots a real kernel with `-accel kvm` and sees it get as far as the
// kernel's own panic for lack of a root filesystem (proof that it ran its
// whole early init) within a few seconds. The verdict is cached in a file
// keyed by everything it depends on.

import { spawn } from 'node:child_process';
import { accessSync, constants, closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Accel, AgentTransport } from '../../config/types';
import { InvalidArgumentError } from '../../../common/errors';
import { silentLogger, type Logger } from '../../log';
import { readJson, writeJsonAtomic } from '../../store/atomic';
import type { AccelKind } from '../vm-config';

/** Printed by every Linux kernel that got through early init without a root fs. */
export const PROBE_MARKER = 'Kernel panic - not syncing';
export const DEFAULT_PROBE_TIMEOUT_MS = 8_000;

export interface KvmProbeOptions {
  qemuBinary: string;
  /** A Linux kernel to boot (the guest's vmlinux); without one kvm cannot be proven and tcg is chosen. */
  kernel?: string;
  /** Where the verdict is cached; absent = no cache. */
  cacheFile?: string;
  timeoutMs?: number;
  kvmDevice?: string;
  logger?: Logger;
}

export interface AccelVerdict {
  accel: AccelKind;
  /** Why, for `vmpod check` and the log. */
  reason: string;
}

interface CacheEntry extends AccelVerdict {
  key: string;
}

/** argv of the probe VM (binary excluded); the CPU model is the one production uses with that accel. Pure. */
export function probeArgs(kernel: string, consoleLog: string, accel: AccelKind = 'kvm'): string[] {
  return [
    '-nodefaults',
    '-no-user-config',
    '-machine',
    'pc',
    '-accel',
    accel,
    '-cpu',
    accel === 'kvm' ? 'host' : 'max',
    '-m',
    '128M',
    '-display',
    'none',
    '-vga',
    'none',
    '-no-reboot',
    '-kernel',
    kernel,
    // panic=-1: reboot at once on the expected panic, and -no-reboot makes that an exit.
    '-append',
    'console=ttyS0 panic=-1 root=/dev/vmpod-probe-none',
    '-chardev',
    `file,id=console,path=${consoleLog}`,
    '-serial',
    'chardev:console',
  ];
}

function cacheKey(o: KvmProbeOptions, kvmDevice: string): string {
  const st = (p: string): string => {
    try {
      const s = statSync(p);
      return `${s.size}:${s.mtimeMs}`;
    } catch {
      return 'missing';
    }
  };
  let kernelRelease = '';
  try {
    kernelRelease = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  } catch {
    /* not Linux? then kvm is moot anyway */
  }
  return JSON.stringify([o.qemuBinary, o.kernel ?? '', o.kernel ? st(o.kernel) : '', st(kvmDevice), kernelRelease]);
}

/** The device node exists and we may open it read-write. */
export function deviceAccessible(dev: string): boolean {
  try {
    accessSync(dev, constants.R_OK | constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Boot `kernel` under `accel` and watch its console for PROBE_MARKER; true
 * if the marker appeared within `timeoutMs`. (Here, kvm with `-cpu host`
 * makes QEMU abort at once on an MSR the nested KVM refuses.)
 */
export async function probeGuestBoot(qemuBinary: string, kernel: string, accel: AccelKind, timeoutMs: number): Promise<boolean> {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-accel-probe-'));
  const consoleLog = join(dir, 'console.log');
  closeSync(openSync(consoleLog, 'w'));
  try {
    const child = spawn(qemuBinary, probeArgs(kernel, consoleLog, accel), { stdio: 'ignore' });
    const ok = await new Promise<boolean>((resolve) => {
      const seen = (): boolean => readFileSync(consoleLog, 'utf8').includes(PROBE_MARKER);
      const done = (v: boolean): void => {
        clearInterval(poll);
        clearTimeout(timer);
        resolve(v);
      };
      const poll = setInterval(() => seen() && done(true), 100);
      const timer = setTimeout(() => done(seen()), timeoutMs);
      child.once('error', () => done(false));
      child.once('exit', () => done(seen()));
    });
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
    }
    return ok;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The kvm verdict: usable device, and a kernel that really boots with it. */
export async function probeKvm(o: KvmProbeOptions): Promise<AccelVerdict> {
  const kvmDevice = o.kvmDevice ?? '/dev/kvm';
  if (!deviceAccessible(kvmDevice)) return { accel: 'tcg', reason: `${kvmDevice} missing or not accessible` };
  if (!o.kernel) return { accel: 'tcg', reason: 'no guest kernel to prove that kvm boots a guest' };
  const timeoutMs = o.timeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS;
  return (await probeGuestBoot(o.qemuBinary, o.kernel, 'kvm', timeoutMs))
    ? { accel: 'kvm', reason: 'a guest kernel booted under kvm' }
    : { accel: 'tcg', reason: `${kvmDevice} exists but a guest kernel did not get through early boot under kvm within ${timeoutMs} ms` };
}

/** Resolve the configured accel; `auto` probes (cached). An explicit choice is taken as given. */
export async function detectAccel(requested: Accel, o: KvmProbeOptions): Promise<AccelVerdict> {
  if (requested === 'kvm' || requested === 'tcg') return { accel: requested, reason: 'configured' };
  if (requested !== 'auto') throw new InvalidArgumentError('accel', `"${String(requested)}" is not auto, kvm or tcg`);
  const log = o.logger ?? silentLogger;
  const key = cacheKey(o, o.kvmDevice ?? '/dev/kvm');
  if (o.cacheFile) {
    try {
      const c = readJson<CacheEntry>(o.cacheFile);
      if (c.key === key && (c.accel === 'kvm' || c.accel === 'tcg')) return { accel: c.accel, reason: `${c.reason} (cached)` };
    } catch {
      /* no or stale cache: probe */
    }
  }
  const verdict = await probeKvm(o);
  log.info({ subsystem: 'qemu', verdict }, 'accelerator probed');
  if (o.cacheFile) writeJsonAtomic(o.cacheFile, { ...verdict, key } satisfies CacheEntry);
  return verdict;
}

/** True if vhost-vsock can be used: the device exists and opens read-write. */
export function vhostVsockUsable(device = '/dev/vhost-vsock'): boolean {
  try {
    closeSync(openSync(device, 'r+'));
    return true;
  } catch {
    return false;
  }
}

/** Resolve the configured agent transport; `vsock` without the device is a config error the caller reports. */
export function resolveAgentTransport(requested: AgentTransport, vsockUsable: boolean): 'vsock' | 'serial' {
  if (requested === 'vsock' || requested === 'serial') return requested;
  return vsockUsable ? 'vsock' : 'serial';
}
