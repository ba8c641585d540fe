// bench/vm-cold-start: where a cold VM pod's start goes, guest side included
// (issue 17, goal 1). One line per milestone, in seconds from the start of
// RunPodSandbox: the daemon's own phases (share, tap, QEMU, agent, sandbox,
// network), every guest console line as it reaches the host's console log
// (kernel, init, modules, rootfs, switch_root, the agent's own log lines),
// then CreateContainer, StartContainer and the container's first log line.
// Next to the wall time, QEMU's CPU time at the same moment: under TCG that
// is the guest's own work, which the host's load barely changes, while the
// wall time on a shared host swings by half from one boot to the next. The
// same run boots the guest-boot floor (bench/guest-boot) so the ratio is
// against a floor measured under the same load. The serial console reaches
// the log in bursts (about 0.25 s apart), so guest lines are good to that.
//
//   node dist/bench/vm-cold-start.js [--runs 3] [--floor-runs 3] [--trace]
//   VMPOD_GUEST_DIR=<guest build> node dist/bench/vm-cold-start.js ...   (A/B of two builds)
//
// --trace prints every console line of the last run with its arrival time
// and QEMU's CPU time then.
// Drives the microvm controller directly (no gRPC) in a throw-away network
// namespace, like bench/vm-pod, with a busybox image from a local registry.

import { closeSync, existsSync, openSync, readFileSync, readSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { findGuestImage } from '../src/host/guest-image';
import { readHostFacts } from '../src/host/facts';
import { RUN_FILES } from '../src/hypervisor';
import { silentLogger } from '../src/log';
import { MicrovmController } from '../src/sandbox/microvm/controller';
import { decodeVmPodData } from '../src/sandbox/microvm/data';
import { vmRunPaths } from '../src/sandbox/microvm/layout';
import { processCpuMs } from '../test/helpers/guest-console';
import { measureGuestBootFloor } from './guest-boot';
import { Cleanup, runWithCleanup } from './lib/cleanup';
import { benchPodConfig, busyboxContainerConfig, openVmBenchWorld, POD_NAMESPACES } from './lib/vm-bench';

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(name);
  const v = i >= 0 ? Number(process.argv[i + 1]) : dflt;
  if (!Number.isInteger(v) || v < 1) throw new Error(`${name} must be a positive integer`);
  return v;
};
const median = (xs: number[]): number => {
  const s = [...xs].filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const sec = (ms: number): string => (Number.isFinite(ms) ? (ms / 1000).toFixed(2) : '   -').padStart(6);

/** A console line and when the host saw it, in ms from the pod's t0, with QEMU's CPU time then. */
interface Stamped {
  ms: number;
  cpuMs: number;
  text: string;
}

/** Tails a file that QEMU appends to, stamping each complete line when it is first read. */
class ConsoleTail {
  private offset = 0;
  private partial = '';
  readonly lines: Stamped[] = [];
  private readonly timer: NodeJS.Timeout;
  /** QEMU's pid, from its pidfile in the run directory once it is there. */
  pid = 0;
  constructor(
    private readonly path: string,
    private readonly t0: number,
  ) {
    this.timer = setInterval(() => this.poll(), 5);
  }
  cpu(): number {
    if (!this.pid) this.pid = Number(readFileSync(join(dirname(this.path), RUN_FILES.pidfile), 'utf8').trim()) || 0;
    return this.pid ? processCpuMs(this.pid) : NaN;
  }
  poll(): void {
    if (!existsSync(this.path)) return;
    let fd: number;
    try {
      fd = openSync(this.path, 'r');
    } catch {
      return;
    }
    try {
      const buf = Buffer.alloc(64 * 1024);
      for (;;) {
        const n = readSync(fd, buf, 0, buf.length, this.offset);
        if (n <= 0) break;
        this.offset += n;
        const parts = (this.partial + buf.subarray(0, n).toString('utf8')).split('\n');
        this.partial = parts.pop() ?? '';
        const ms = Date.now() - this.t0;
        let cpuMs = NaN;
        try {
          cpuMs = this.cpu();
        } catch {
          // no pidfile yet
        }
        for (const p of parts) this.lines.push({ ms, cpuMs, text: p.replace(/\r$/, '') });
      }
    } finally {
      closeSync(fd);
    }
  }
  stop(): void {
    this.poll();
    clearInterval(this.timer);
  }
  first(re: RegExp): Stamped | undefined {
    return this.lines.find((l) => re.test(l.text));
  }
}

/** The guest milestones, in order, by the console line that marks each. */
const GUEST_MARKS: Array<[string, RegExp]> = [
  ['kernel first line', /Linux version/],
  ['init start', /^vmpod-init: start/],
  ['modules loaded', /^vmpod-init: modules loaded/],
  ['rootfs checked', /^vmpod-init: rootfs read-only: ok/],
  ['switch_root', /^vmpod-init: switching root/],
  ['agent main()', /"msg":"vmpod-agent starting"/],
  ['agent ready line', /^vmpod-agent: ready/],
  ['9p shares mounted', /"msg":"mounted 9p share".*vmpod-volumes|"msg":"mounted 9p share"/],
  ['sandbox created', /"msg":"sandbox created"/],
];

/** The agent's log lines that carry its own `ms` for a request. */
const AGENT_TIMERS: Array<[string, RegExp]> = [
  ['CreateSandbox', /"msg":"sandbox created"/],
  ['CreateContainer', /"msg":"container created"/],
  ['StartContainer', /"msg":"container started"/],
];

/** The `ms` field of an agent's JSON log line (untrusted text from the guest's console), or NaN. */
function agentTimer(line: string | undefined): number {
  if (line === undefined) return NaN;
  try {
    // From its first brace: a console line may begin with what the kernel printed meanwhile.
    const ms = (JSON.parse(line.slice(Math.max(0, line.indexOf('{')))) as { ms?: unknown }).ms;
    return typeof ms === 'number' && Number.isFinite(ms) ? ms : NaN;
  } catch {
    return NaN;
  }
}

async function main(cleanup: Cleanup): Promise<void> {
  const runs = arg('--runs', 3);
  const floorRuns = arg('--floor-runs', 3);
  const trace = process.argv.includes('--trace');
  const guest = findGuestImage(process.env.VMPOD_GUEST_DIR);
  if ('missing' in guest) throw new Error(`guest image: ${guest.missing}`);
  if (guest.manifest.agent !== 'bundle') throw new Error(`guest image ${guest.dir} has no agent bundle`);
  const loadBefore = loadavg().map((l) => l.toFixed(1));

  const w = await openVmBenchWorld({ tmpPrefix: 'vcs-', netnsPrefix: 'vmpod-cold-net-', cniName: 'vmcold', bridge: 'vmcoldbr0', subnet: '10.88.93.0/24', guest });
  // Also on Ctrl-C or a closed output (`bench | head`): the VMs, registry and netns go.
  cleanup.add('VM pods, network namespace, registry and work dir', () => w.close());
  const { cfg, vmCfg, images, image, net } = w;
  const c = new MicrovmController({ handler: 'vm', config: cfg, microvm: vmCfg, host: readHostFacts(), logger: silentLogger });
  w.controllers.push(c);

  const rows: Array<Record<string, number>> = [];
  const cpuRows: Array<Record<string, number>> = [];
  // The agent's own timers (the `ms` of its log lines, guest clock), run by run: finer than a console line's arrival.
  const agentMs: Array<Record<string, number>> = [];
  let lastTrace: Stamped[] = [];
  for (let r = 0; r < runs; r++) {
    const id = `cold${process.pid}x${String(r).padStart(6, '0')}`.padEnd(64, '0');
    const config = benchPodConfig(w, id, `cold-${r}`, 'cold');
    const t0 = Date.now();
    const tail = new ConsoleTail(join(vmRunPaths(cfg.state, id).dir, RUN_FILES.consoleLog), t0);
    const row: Record<string, number> = {};
    // QEMU's CPU time at the same milestones: under TCG that is the guest's own work, whatever the host's load.
    const cpuRow: Record<string, number> = {};
    const mark = (name: string): void => {
      row[name] = Date.now() - t0;
      try {
        cpuRow[name] = tail.cpu();
      } catch {
        cpuRow[name] = NaN;
      }
    };
    try {
      const n = await net.setup({ id, name: `cold-${r}`, namespace: 'bench', uid: id, hostNetwork: false, portMappings: [] });
      w.pods.push({ c, net, id });
      row['CNI ADD'] = Date.now() - t0;
      const tCreate = Date.now();
      const data = await c.createSandbox({ id, config, namespaces: POD_NAMESPACES, hostname: 'cold', netnsPath: n.netnsPath, ips: [n.ips.ip], log: silentLogger });
      mark('pod ready (RunPodSandbox)');
      // The daemon's phases, laid end to end from the start of createSandbox.
      let at = tCreate - t0;
      for (const [p, ms] of Object.entries(decodeVmPodData(data, id).startPhasesMs)) {
        at += ms;
        row[`  daemon: ${p} done`] = at;
      }
      const sbh = { id, config, namespaces: POD_NAMESPACES, hostname: 'cold', netnsPath: n.netnsPath, data };
      const cid = `k${r}`.padEnd(64, '0');
      const layout = await images.prepareRootfs(cid, image.id);
      await images.mountRootfs(cid);
      row['image rootfs prepared'] = Date.now() - t0;
      const logPath = join(w.dir, 'logs', id, 'c.log');
      const cconf = busyboxContainerConfig(image.id, 'echo up; exec sleep 3600');
      const tc = Date.now();
      const made = await c.createContainer({ id: cid, sandbox: sbh, config: cconf, image: image.config, rootfs: layout.mountpoint, logPath, log: silentLogger });
      mark('CreateContainer done');
      const ch = { id: cid, logPath, data: made.data };
      await c.startContainer(sbh, ch);
      mark('StartContainer done');
      while (!(existsSync(logPath) && readFileSync(logPath, 'utf8').includes(' F up'))) await new Promise((res) => setTimeout(res, 5));
      mark('first log line');
      row['(container: create+start+line)'] = Date.now() - tc;
      // The console reaches the host in bursts: give the agent's last timed line up to 2 s to arrive (nothing is being timed now).
      const lastTimed = AGENT_TIMERS[AGENT_TIMERS.length - 1][1];
      const giveUp = Date.now() + 2000;
      while (!tail.first(lastTimed) && Date.now() < giveUp) await new Promise((res) => setTimeout(res, 20));
      tail.stop();
      for (const [name, re] of GUEST_MARKS) {
        const l = tail.first(re);
        row[`  guest: ${name}`] = l?.ms ?? NaN;
        cpuRow[`  guest: ${name}`] = l?.cpuMs ?? NaN;
      }
      agentMs.push(Object.fromEntries(AGENT_TIMERS.map(([name, re]) => [name, agentTimer(tail.first(re)?.text)])));
      lastTrace = tail.lines;
      await c.removeContainer(sbh, ch, silentLogger);
      await images.releaseRootfs(cid);
      await c.removeSandbox(sbh, silentLogger);
      await net.teardown(id);
      w.pods.splice(
        w.pods.findIndex((p) => p.id === id),
        1,
      );
    } finally {
      tail.stop();
    }
    rows.push(row);
    cpuRows.push(cpuRow);
  }

  const floor = await measureGuestBootFloor({ runs: floorRuns, guestDir: guest.dir });
  const loadAfter = loadavg().map((l) => l.toFixed(1));
  console.log(`guest ${guest.hash.slice(0, 12)}, TCG, serial agent channel, ${runs} run(s), load average ${loadBefore.join(' ')} → ${loadAfter.join(' ')}`);
  console.log('milestone (s from RunPodSandbox start; median; then each run)');
  const keys = Object.keys(rows[0]);
  const ordered = keys.sort((a, b) => median(rows.map((x) => x[a])) - median(rows.map((x) => x[b])));
  console.log(`  ${''.padEnd(36)}   wall   QEMU CPU   [wall of each run]`);
  for (const k of ordered) console.log(`  ${k.padEnd(36)} ${sec(median(rows.map((x) => x[k])))}   ${sec(median(cpuRows.map((x) => x[k] ?? NaN)))}   [${rows.map((x) => sec(x[k]).trim()).join(' ')}]`);
  const m = floor.median;
  console.log(`floor (guest-boot, QEMU spawn →): init ${sec(m.initMs)} modules ${sec(m.modulesMs)} root ${sec(m.rootMs)} node ${sec(m.nodeMs)}; QEMU CPU at node ${sec(m.cpu.nodeMs)}`);
  const total = median(rows.map((x) => x['first log line']));
  const totalCpu = median(cpuRows.map((x) => x['first log line']));
  console.log(`pod start (RunPodSandbox → first log line) ${sec(total)} / floor ${sec(m.nodeMs)} = ${(total / m.nodeMs).toFixed(2)}x wall`);
  console.log(
    `QEMU CPU at the first log line ${sec(totalCpu)} / floor's at node ${sec(m.cpu.nodeMs)} = ${(totalCpu / m.cpu.nodeMs).toFixed(2)}x (the guest's work, without the host's load or the daemon's own steps)`,
  );
  const each = (xs: number[]): string => xs.map((x) => sec(x).trim()).join(' ');
  const startWall = rows.map((x) => x['StartContainer done'] - x['CreateContainer done']);
  const startCpu = cpuRows.map((x) => x['StartContainer done'] - x['CreateContainer done']);
  console.log(`StartContainer (CreateContainer done → StartContainer done): wall ${sec(median(startWall))} [${each(startWall)}], QEMU CPU ${sec(median(startCpu))} [${each(startCpu)}]`);
  for (const [name] of AGENT_TIMERS) {
    const ms = agentMs.map((x) => x[name]);
    console.log(`agent's own timer, ${name}: ${sec(median(ms))} [${each(ms)}]`);
  }
  if (trace) {
    console.log('console of the last run (s from RunPodSandbox start):');
    for (const l of lastTrace) console.log(`${sec(l.ms)} ${sec(l.cpuMs)} ${l.text.slice(0, 200)}`);
  }
}

if (require.main === module) {
  const cleanup = new Cleanup();
  void runWithCleanup(cleanup, () => main(cleanup)).then((code) => (process.exitCode = code));
}
