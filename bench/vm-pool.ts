// bench/vm-pool: a VM pod started below the boot floor, three ways, against
// the floor and a cold start measured in the same run (issue 17, goal 2).
//
//   node dist/bench/vm-pool.js [--runs 3] [--floor-runs 3]
//
// * floor: bench/guest-boot's fastest boot, QEMU spawn → Node.js ready in
//   the guest;
// * cold: CNI ADD + MicrovmController.createSandbox (pod ready), then a
//   busybox container until its first log line;
// * pool (`pool_size = 1`): the same with a pre-booted VM waiting (the bench
//   waits for the pool to be full before each pod): hand-out, NIC hot-plug
//   (netdev_add of a tap + device_add virtio-net-pci), CreateSandbox and the
//   guest network;
// * template (`template = true`, no pool): the pod's VM restored from the
//   handler's template when the pod starts (src/sandbox/microvm/template.ts:
//   QEMU with the template's sealed memfd mapped copy-on-write, its saved
//   state loaded over QMP), then handed out as a pool VM is;
// * template pool (`template = true`, `pool_size = 1`): a pool whose VMs are
//   restored from the template.
// The template is built (one boot) before anything is measured. Starts are
// interleaved (cold, pool, template, template pool, cold, ...) so that a
// change of the host's load hits all alike, and no boot or restore of a
// pool's refill runs beside a measured start.
// Runs the controller directly (no gRPC) in a throw-away network namespace;
// Ctrl-C (or a closed output) removes everything it started.

import { existsSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { readHostFacts } from '../src/host/facts';
import { findGuestImage } from '../src/host/guest-image';
import { silentLogger } from '../src/log';
import { MicrovmController } from '../src/sandbox/microvm/controller';
import { decodeVmPodData } from '../src/sandbox/microvm/data';
import { measureGuestBootFloor } from './guest-boot';
import { Cleanup, runWithCleanup } from './lib/cleanup';
import { benchPodConfig, busyboxContainerConfig, openVmBenchWorld, POD_NAMESPACES } from './lib/vm-bench';

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(name);
  const v = i >= 0 ? Number(process.argv[i + 1]) : dflt;
  if (!Number.isInteger(v) || v < 1) throw new Error(`${name} must be a positive integer`);
  return v;
};
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const sec = (ms: number): string => (ms / 1000).toFixed(2);
const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));

async function main(cleanup: Cleanup): Promise<void> {
  const runs = arg('--runs', 3);
  const floorRuns = arg('--floor-runs', 3);
  const guest = findGuestImage(process.env.VMPOD_GUEST_DIR);
  if ('missing' in guest) throw new Error(`guest image: ${guest.missing}`);
  if (guest.manifest.agent !== 'bundle') throw new Error(`guest image ${guest.dir} has no agent bundle`);
  const loadBefore = loadavg()[0].toFixed(1);

  const w = await openVmBenchWorld({ tmpPrefix: 'vpp-', netnsPrefix: 'vmpod-bench-pool-', cniName: 'vmpoolbench', bridge: 'vmpoolbr0', subnet: '10.88.84.0/24', guest });
  cleanup.add('VM pods, controllers, network namespace, registry and work dir', () => w.close());
  const live = w.pods;
  const { cfg, vmCfg, images, image, net } = w;
  const controller = (handler: string, extra: Partial<typeof vmCfg>): MicrovmController => {
    const c = new MicrovmController({ handler, config: cfg, microvm: { ...vmCfg, ...extra }, host: readHostFacts(), logger: silentLogger });
    w.controllers.push(c);
    return c;
  };
  const cold = controller('vm', {});
  const templated = controller('vmtmpl', { template: true });
  const t0 = Date.now();
  await templated.poolSettled();
  const templateMs = Date.now() - t0;
  let pooled: MicrovmController | undefined;
  let templatePooled: MicrovmController | undefined;

  let seq = 0;
  const podRun = async (c: MicrovmController) => {
    const id = `bench${process.pid}x${String(seq++).padStart(6, '0')}`.padEnd(64, '0');
    const config = benchPodConfig(w, id, `b-${seq}`, `b-${seq}`);
    const t0 = Date.now();
    const n = await net.setup({ id, name: `b-${seq}`, namespace: 'bench', uid: id, hostNetwork: false, portMappings: [] });
    live.push({ c, net, id });
    const data = await c.createSandbox({ id, config, namespaces: POD_NAMESPACES, hostname: `b-${seq}`, netnsPath: n.netnsPath, ips: [n.ips.ip], log: silentLogger });
    const readyMs = Date.now() - t0;
    const sbh = { id, config, namespaces: POD_NAMESPACES, hostname: 'b', netnsPath: n.netnsPath, data };
    const cid = `c${seq}`.padEnd(64, '0');
    const layout = await images.prepareRootfs(cid, image.id);
    await images.mountRootfs(cid);
    const logPath = join(w.dir, 'logs', id, 'c.log');
    const cconf = busyboxContainerConfig(image.id, 'echo up; exec sleep 3600');
    const tc = Date.now();
    const made = await c.createContainer({ id: cid, sandbox: sbh, config: cconf, image: image.config, rootfs: layout.mountpoint, logPath, log: silentLogger });
    const ch = { id: cid, logPath, data: made.data };
    await c.startContainer(sbh, ch);
    while (!(existsSync(logPath) && readFileSync(logPath, 'utf8').includes(' F up'))) await sleep(20);
    const done = Date.now();
    const phases = decodeVmPodData(data, id).startPhasesMs;
    await c.removeContainer(sbh, ch, silentLogger);
    await images.releaseRootfs(cid);
    await c.removeSandbox(sbh, silentLogger);
    await net.teardown(id);
    live.splice(
      live.findIndex((l) => l.id === id),
      1,
    );
    return { ready: readyMs, container: done - tc, total: done - t0, phases };
  };

  type Sample = Awaited<ReturnType<typeof podRun>>;
  const coldS: Sample[] = [];
  const poolS: Sample[] = [];
  const templateS: Sample[] = [];
  const templatePoolS: Sample[] = [];
  // Interleaved, so that a change of the host's load hits all alike. No boot or restore runs beside a measured
  // start: each pool (made after the first cold start) is full before, and refilled after, each of its starts.
  for (let r = 0; r < runs && !cleanup.started; r++) {
    coldS.push(await podRun(cold));
    pooled ??= controller('vmpool', { pool_size: 1 });
    templatePooled ??= controller('vmtmplpool', { pool_size: 1, template: true });
    await pooled.poolSettled();
    poolS.push(await podRun(pooled));
    await pooled.poolSettled();
    templateS.push(await podRun(templated));
    await templatePooled.poolSettled();
    templatePoolS.push(await podRun(templatePooled));
    await templatePooled.poolSettled();
  }
  // The pools' spare VMs would take a CPU from the floor's boots.
  await pooled?.close();
  await templatePooled?.close();
  if (cleanup.started) return;
  const floor = await measureGuestBootFloor({ runs: floorRuns, guestDir: guest.dir });
  const floorMs = floor.median.nodeMs;

  const m = (xs: Sample[], k: 'ready' | 'container' | 'total') => median(xs.map((s) => s[k]));
  console.log(`guest ${guest.hash.slice(0, 12)}, TCG, -smp 1 -m 512M, ${runs} run(s) each, medians in seconds; load average ${loadBefore} at the start, ${loadavg()[0].toFixed(1)} at the end`);
  console.log(`guest-boot floor (QEMU spawn → Node.js ready): ${sec(floorMs)}`);
  console.log(`| start | pod ready | / floor | container first line | total | total / floor |`);
  console.log(`| --- | ---: | ---: | ---: | ---: | ---: |`);
  for (const [name, xs] of [
    ['cold', coldS],
    ['pool', poolS],
    ['template', templateS],
    ['template pool', templatePoolS],
  ] as const)
    console.log(`| ${name} | ${sec(m(xs, 'ready'))} | ${(m(xs, 'ready') / floorMs).toFixed(2)}× | ${sec(m(xs, 'container'))} | ${sec(m(xs, 'total'))} | ${(m(xs, 'total') / floorMs).toFixed(2)}× |`);
  const poolPhases = Object.keys(poolS[0].phases);
  console.log(`pool hand-out phases (median s): ${poolPhases.map((p) => `${p} ${sec(median(poolS.map((s) => s.phases[p] ?? 0)))}`).join(', ')}`);
  const coldPhases = Object.keys(coldS[0].phases);
  console.log(`cold start phases (median s): ${coldPhases.map((p) => `${p} ${sec(median(coldS.map((s) => s.phases[p] ?? 0)))}`).join(', ')}`);
  const templatePhases = Object.keys(templateS[0].phases);
  console.log(`template start phases (median s): ${templatePhases.map((p) => `${p} ${sec(median(templateS.map((s) => s.phases[p] ?? 0)))}`).join(', ')}`);
  console.log(`template built (boot to agent-ready, save, seal) in ${sec(templateMs)} s, before the runs`);
}

if (require.main === module) {
  const cleanup = new Cleanup();
  void runWithCleanup(cleanup, () => main(cleanup)).then((code) => (process.exitCode = code));
}
