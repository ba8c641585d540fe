// bench/guest-boot: how long the guest takes under QEMU from spawn to its
// init's first console line, to Node.js ready (the agent's boot selftest
// line) and to QEMU's exit after power-off, median of N runs, for each boot
// path worth comparing. This boot is the floor a VM pod's start is measured
// against; `measureGuestBootFloor` gives other benches that number.
//
//   node dist/bench/guest-boot.js [--runs 3] [--json out.json] [--only <substring>]

import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { findGuestImage, type GuestImage } from '../src/host/guest-image';
import { configName, findLine, guestQemuArgs, missingForBoot, startGuest, type GuestBootConfig } from '../test/helpers/guest-console';

/** Milliseconds from QEMU's spawn to each console milestone. */
export interface BootSample {
  /** The initramfs init's first line: firmware + kernel boot. */
  initMs: number;
  /** All modules insmod-ed. */
  modulesMs: number;
  /** The rootfs NVDIMM mounted with DAX (and the read-only checks done). */
  rootMs: number;
  /** The agent's selftest line: Node.js started from the DAX rootfs. */
  nodeMs: number;
  /** QEMU exited after the guest powered off. */
  exitMs: number;
  /**
   * QEMU's CPU time at the same milestones. Under TCG on a busy host the
   * wall times above mostly measure the host's load; CPU time measures the guest.
   */
  cpu: { initMs: number; modulesMs: number; rootMs: number; nodeMs: number; exitMs: number };
}

const MILESTONES: Array<[Exclude<keyof BootSample, 'exitMs' | 'cpu'>, RegExp]> = [
  ['initMs', /^vmpod-init: /],
  ['modulesMs', /^vmpod-init: modules loaded: /],
  ['rootMs', /^vmpod-init: rootfs read-only: ok/],
  ['nodeMs', /^vmpod-agent: selftest ok/],
];

export interface BootResult {
  config: string;
  boot: GuestBootConfig;
  runs: number;
  /** Medians over the runs. */
  median: BootSample;
  samples: BootSample[];
}

/** The boot paths compared; the first is the fastest one found here (the floor). */
export const CONFIGS: GuestBootConfig[] = [
  { machine: 'pc', kernel: 'vmlinux', firmware: 'qboot' },
  { machine: 'q35', kernel: 'vmlinux', firmware: 'qboot' },
  { machine: 'pc', kernel: 'vmlinux', firmware: 'seabios' },
  { machine: 'pc', kernel: 'bzImage', firmware: 'seabios' },
  { machine: 'q35', kernel: 'bzImage', firmware: 'seabios' },
  { machine: 'pc', kernel: 'vmlinux', firmware: 'qboot', cmdline: ['quiet'] },
];

const TIMEOUT_MS = 180_000;

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

export function nameOf(c: GuestBootConfig): string {
  return configName(c) + (c.cmdline?.length ? ` +${c.cmdline.join(' ')}` : '');
}

/** One boot with the selftest; throws if the guest did not reach Node.js or QEMU did not exit cleanly. */
export async function bootOnce(img: GuestImage, c: GuestBootConfig): Promise<BootSample> {
  const cfg = { ...c, cmdline: [...(c.cmdline ?? []), 'vmpod.selftest=boot'] };
  const g = startGuest(guestQemuArgs(img, cfg), { timeoutMs: TIMEOUT_MS });
  const run = await g.done;
  const cpu = { initMs: NaN, modulesMs: NaN, rootMs: NaN, nodeMs: NaN, exitMs: run.cpuMs };
  const sample: BootSample = { initMs: NaN, modulesMs: NaN, rootMs: NaN, nodeMs: NaN, exitMs: run.wallMs, cpu };
  const missed: string[] = [];
  for (const [key, re] of MILESTONES) {
    const line = findLine(run, re);
    if (line) {
      sample[key] = line.ms;
      cpu[key] = line.cpuMs;
    } else missed.push(key);
  }
  if (run.timedOut || run.exitCode !== 0 || missed.length > 0) {
    const tail = run.lines
      .slice(-15)
      .map((l) => l.text)
      .join('\n');
    throw new Error(`${nameOf(c)}: boot failed (exit ${run.exitCode}, timed out ${run.timedOut}, missing ${missed.join(' ')}): ${run.stderr}\n${tail}`);
  }
  return sample;
}

export async function measureConfig(img: GuestImage, c: GuestBootConfig, runs: number): Promise<BootResult> {
  const missing = missingForBoot(c);
  if (missing) throw new Error(`${nameOf(c)}: ${missing}`);
  const samples: BootSample[] = [];
  for (let i = 0; i < runs; i++) samples.push(await bootOnce(img, c));
  return {
    config: nameOf(c),
    boot: c,
    runs,
    median: {
      initMs: median(samples.map((s) => s.initMs)),
      modulesMs: median(samples.map((s) => s.modulesMs)),
      rootMs: median(samples.map((s) => s.rootMs)),
      nodeMs: median(samples.map((s) => s.nodeMs)),
      exitMs: median(samples.map((s) => s.exitMs)),
      cpu: {
        initMs: median(samples.map((s) => s.cpu.initMs)),
        modulesMs: median(samples.map((s) => s.cpu.modulesMs)),
        rootMs: median(samples.map((s) => s.cpu.rootMs)),
        nodeMs: median(samples.map((s) => s.cpu.nodeMs)),
        exitMs: median(samples.map((s) => s.cpu.exitMs)),
      },
    },
    samples,
  };
}

function requireImage(dir?: string): GuestImage {
  const found = findGuestImage(dir);
  if ('missing' in found) throw new Error(`guest image: ${found.missing}`);
  return found;
}

/** The boot floor: the fastest configuration (vmlinux via PVH, qboot, pc), median of `runs`. */
export async function measureGuestBootFloor(opts: { runs?: number; guestDir?: string } = {}): Promise<BootResult> {
  return measureConfig(requireImage(opts.guestDir), CONFIGS[0], opts.runs ?? 3);
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const s = (ms: number): string => (ms / 1000).toFixed(2).padStart(7);

async function main(): Promise<void> {
  const runs = Number(arg('--runs') ?? 3);
  if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs must be a positive integer');
  const only = arg('--only');
  const img = requireImage(process.env.VMPOD_GUEST_DIR);
  const results: BootResult[] = [];
  // Other work on the machine slows TCG down directly: say how loaded it was.
  const load = (): string =>
    loadavg()
      .map((l) => l.toFixed(1))
      .join(' ');
  const loadBefore = load();
  console.log(`guest ${img.hash.slice(0, 12)} (kernel ${img.manifest.kernel.release}, node ${img.manifest.node}, agent ${img.manifest.agent}), TCG, ${runs} run(s) each, median seconds`);
  console.log(`host: ${cpus().length} CPUs, load average ${loadBefore}`);
  const heads = ['init', 'modules', 'root', 'node', 'exit'].map((h) => h.padStart(7)).join(' ');
  console.log(`${'configuration'.padEnd(36)} wall: ${heads} | QEMU CPU: ${heads}`);
  for (const c of CONFIGS) {
    if (only && !nameOf(c).includes(only)) continue;
    const r = await measureConfig(img, c, runs);
    results.push(r);
    const m = r.median;
    const wall = [m.initMs, m.modulesMs, m.rootMs, m.nodeMs, m.exitMs].map(s).join(' ');
    const cpu = [m.cpu.initMs, m.cpu.modulesMs, m.cpu.rootMs, m.cpu.nodeMs, m.cpu.exitMs].map(s).join(' ');
    console.log(`${r.config.padEnd(36)}       ${wall} |           ${cpu}`);
  }
  const json = arg('--json');
  if (json) {
    const meta = { guest: img.hash, kernel: img.manifest.kernel.release, node: img.manifest.node, runs, cpus: cpus().length, loadavg_before: loadBefore, loadavg_after: load() };
    writeFileSync(json, JSON.stringify({ ...meta, results }, null, 2) + '\n');
    console.log(`wrote ${json}`);
  }
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
