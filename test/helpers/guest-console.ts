// Boots the built guest under QEMU and captures its serial console, line by
// line with the time each line arrived. Used by the guest boot test and by
// bench/guest-boot. The argv here is deliberately local and small: the
// daemon's QEMU command line comes from src/hypervisor/qemu/cmdline.ts; this
// one exists to compare boot paths (PVH vs bzImage, qboot vs SeaBIOS, pc vs
// q35) that the production builder need not offer.

import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { guestPartPath, type GuestImage } from '../../src/host/guest-image';
import { TCG_GUEST_PARAMS } from '../../src/hypervisor/qemu/cmdline';

export const QEMU = 'qemu-system-x86_64';
/** qboot: a minimal firmware that jumps straight to the kernel (Debian ships it in qemu-system-data). */
export const QBOOT_ROM = '/usr/share/qemu/qboot.rom';

export interface GuestBootConfig {
  machine: 'pc' | 'q35';
  /** vmlinux boots through the PVH entry point; bzImage through the real-mode setup code. */
  kernel: 'vmlinux' | 'bzImage';
  /** seabios = QEMU's default firmware. */
  firmware: 'qboot' | 'seabios';
  /** Boot this rootfs image instead of the manifest's (for broken-image tests). */
  rootfsPath?: string;
  rootfsSize?: number;
  /** Appended to the manifest's kernel command line. */
  cmdline?: string[];
  memoryMib?: number;
}

const MIB = 1024 * 1024;

export function configName(c: GuestBootConfig): string {
  return `${c.kernel === 'vmlinux' ? 'vmlinux/PVH' : 'bzImage'}+${c.firmware}, ${c.machine}`;
}

/** argv (without the binary) that boots `img` with its console on stdout and exits QEMU when the guest powers off or panics. */
export function guestQemuArgs(img: GuestImage, c: GuestBootConfig): string[] {
  const mem = c.memoryMib ?? 512;
  const rootfs = c.rootfsPath ?? guestPartPath(img, 'rootfs');
  const rootfsSize = c.rootfsSize ?? img.manifest.parts.rootfs.size;
  const maxmem = mem + Math.ceil(rootfsSize / MIB) + 2;
  return [
    '-nodefaults',
    '-no-user-config',
    '-display',
    'none',
    '-machine',
    `${c.machine},nvdimm=on`,
    ...(c.firmware === 'qboot' ? ['-bios', QBOOT_ROM] : []),
    '-accel',
    'tcg',
    '-cpu',
    'max',
    '-smp',
    '1',
    '-m',
    `${mem}M,slots=2,maxmem=${maxmem}M`,
    // A guest reset (kernel panic with panic=1, or a reboot) ends QEMU.
    '-no-reboot',
    '-serial',
    'stdio',
    '-kernel',
    guestPartPath(img, c.kernel),
    '-initrd',
    guestPartPath(img, 'initramfs'),
    '-append',
    // Under TCG, as the daemon boots its pods (TCG_GUEST_PARAMS): the floor is the same guest's boot.
    [img.manifest.kernel.cmdline, ...TCG_GUEST_PARAMS, ...(c.cmdline ?? [])].join(' '),
    // The rootfs NVDIMM: mapped read-only from the host file, and unarmed so
    // the guest kernel marks the region read-only too.
    '-object',
    `memory-backend-file,id=mem1,share=on,readonly=on,mem-path=${rootfs},size=${rootfsSize}`,
    '-device',
    'nvdimm,memdev=mem1,id=nv1,unarmed=on',
  ];
}

export interface ConsoleLine {
  /** Milliseconds since QEMU was spawned. */
  ms: number;
  /**
   * CPU time QEMU had used when the line arrived (user + system, 10 ms
   * resolution). Under TCG this tracks the guest's work and, unlike wall
   * time, hardly depends on what else the host is running.
   */
  cpuMs: number;
  text: string;
}

/** utime + stime of a live process in ms, from /proc/<pid>/stat; NaN once it is gone. */
export function processCpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // Fields after the parenthesised command name (which may contain spaces).
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return NaN;
  }
}

/** USER_HZ: 100 on every Linux architecture vmpod runs on. */
const CLOCK_TICKS = 100;

export interface GuestRun {
  lines: ConsoleLine[];
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** The run hit its time limit and QEMU was killed. */
  timedOut: boolean;
  /** Milliseconds from spawn to QEMU's exit. */
  wallMs: number;
  /** QEMU's CPU time, last sampled (every 100 ms) before it exited. */
  cpuMs: number;
  stderr: string;
}

export interface GuestProcess {
  pid: number;
  done: Promise<GuestRun>;
  /** SIGKILL this QEMU (by PID) if it is still running; safe to call twice. */
  kill(): void;
}

/** Whether QEMU and the firmware a config needs are installed; names what is missing. */
export function missingForBoot(c: Pick<GuestBootConfig, 'firmware'>): string | undefined {
  const qemu = ['/usr/bin/qemu-system-x86_64', '/usr/local/bin/qemu-system-x86_64'].find(existsSync);
  if (!qemu) return 'qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)';
  if (c.firmware === 'qboot' && !existsSync(QBOOT_ROM)) return `${QBOOT_ROM} is missing (apt-get install qemu-system-data)`;
  return undefined;
}

/** Spawn QEMU with `args`; console lines are timestamped as they arrive and copied to `logPath`. */
export function startGuest(args: string[], opts: { timeoutMs: number; logPath?: string }): GuestProcess {
  const t0 = performance.now();
  const child = spawn(QEMU, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const log = opts.logPath ? createWriteStream(opts.logPath) : undefined;
  const lines: ConsoleLine[] = [];
  let partial = '';
  let stderr = '';
  let timedOut = false;
  let exited = false;
  child.stdout.setEncoding('latin1');
  child.stdout.on('data', (chunk: string) => {
    const ms = performance.now() - t0;
    const cpuMs = child.pid === undefined ? NaN : processCpuMs(child.pid);
    log?.write(chunk);
    const parts = (partial + chunk).split('\n');
    partial = parts.pop() ?? '';
    for (const p of parts) lines.push({ ms, cpuMs, text: p.replace(/\r$/, '') });
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (s: string) => {
    stderr += s;
  });
  const kill = (): void => {
    if (exited || child.pid === undefined) return;
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  let lastCpuMs = NaN;
  const sampler = setInterval(() => {
    const c = child.pid === undefined ? NaN : processCpuMs(child.pid);
    if (!Number.isNaN(c)) lastCpuMs = c;
  }, 100);
  const timer = setTimeout(() => {
    timedOut = true;
    kill();
  }, opts.timeoutMs);
  const done = new Promise<GuestRun>((resolve, reject) => {
    child.on('error', (err) => {
      clearTimeout(timer);
      clearInterval(sampler);
      exited = true;
      reject(err);
    });
    child.on('close', (exitCode, signal) => {
      clearTimeout(timer);
      clearInterval(sampler);
      exited = true;
      if (partial) lines.push({ ms: performance.now() - t0, cpuMs: NaN, text: partial });
      log?.end();
      resolve({ lines, exitCode, signal, timedOut, wallMs: performance.now() - t0, cpuMs: lastCpuMs, stderr });
    });
  });
  if (child.pid === undefined) {
    done.catch(() => undefined); // the spawn error is reported by the throw below
    throw new Error(`could not start ${QEMU} (is qemu-system-x86 installed?)`);
  }
  return { pid: child.pid, done, kill };
}

/** First console line matching `re`, if any. */
export function findLine(run: GuestRun, re: RegExp): ConsoleLine | undefined {
  return run.lines.find((l) => re.test(l.text));
}
