// bench/vm-pool: a VM pod started below the boot floor, two ways, against
// the floor and a cold start measured in the same run (issue 17, goal 2).
//
//   node dist/bench/vm-pool.js [--runs 3] [--floor-runs 3] [--restores 2]
//
// * floor: bench/guest-boot's fastest boot, QEMU spawn → Node.js ready in
//   the guest;
// * cold: CNI ADD + MicrovmController.createSandbox (pod ready), then a
//   busybox container until its first log line;
// * pool (`pool_size = 1`): the same with a pre-booted VM waiting (the bench
//   waits for the pool to be full before each pod): hand-out, NIC hot-plug
//   (netdev_add of a tap + device_add virtio-net-pci), CreateSandbox and the
//   guest network;
// * template (Kata's VM templating, measured, not implemented): one guest
//   booted to agent-ready with its RAM in a memory-backend-file (share=on),
//   stopped and saved with x-ignore-shared to a state file through an fd
//   (getfd + migrate fd:, QEMU runs under -sandbox spawn=deny), then
//   restored --restores times: QEMU with -incoming defer, the RAM file
//   mapped private (share=off), migrate-incoming fd:, cont, until the agent
//   answers. This is the restore alone, without a pod's set-up (hostname,
//   NIC, shares), so it is a lower bound for a template pod start. Then one
//   restore with readonly=on (what would keep the hostile QEMU from writing
//   the template): it shows what QEMU 7.2 does with it.
// Runs the controller directly (no gRPC) in a throw-away network namespace.

import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { AgentClient } from '../src/agent-client';
import { readHostFacts } from '../src/host/facts';
import { findGuestImage, type GuestImage } from '../src/host/guest-image';
import { buildQemuArgs } from '../src/hypervisor/qemu/cmdline';
import { QmpClient } from '../src/hypervisor/qemu/qmp';
import type { VmConfig } from '../src/hypervisor';
import { silentLogger } from '../src/log';
import { agentConnectFn } from '../src/sandbox/microvm/agent-connect';
import { MicrovmController } from '../src/sandbox/microvm/controller';
import { decodeVmPodData } from '../src/sandbox/microvm/data';
import { measureGuestBootFloor } from './guest-boot';
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

/** Ask the agent on `socketPath` until it answers; ms waited. */
async function agentReady(socketPath: string, timeoutMs: number, alive: () => boolean): Promise<void> {
  const agent = new AgentClient({ connect: agentConnectFn({ transport: 'serial', socketPath }), logger: silentLogger, callTimeoutMs: 5000, connectTimeoutMs: 2000, agentMayHoldOldConnection: true });
  const until = Date.now() + timeoutMs;
  try {
    for (;;) {
      if (!alive()) throw new Error('QEMU exited before the agent answered');
      if (Date.now() > until) throw new Error('the agent did not answer in time');
      try {
        await agent.health({ timeoutMs: 3000 });
        return;
      } catch {
        await sleep(100);
      }
    }
  } finally {
    agent.close();
  }
}

interface TemplateVm {
  runDir: string;
  stop: () => Promise<void>;
  qmp: QmpClient;
  alive: () => boolean;
}

/** QEMU as the pod VM's command line has it (no jail, no network), guest RAM in `ramFile`, optionally waiting for an incoming migration. */
async function launchTemplateVm(guest: GuestImage, base: string, name: string, ram: { file: string; share: boolean; readonly: boolean }, incoming: boolean): Promise<TemplateVm> {
  const runDir = join(base, name);
  mkdirSync(runDir, { recursive: true, mode: 0o700 });
  const p = guest.manifest.parts;
  const c: VmConfig = {
    id: name,
    runDir,
    accel: 'tcg',
    vcpus: 1,
    memoryMib: 512,
    boot: {
      kernel: join(guest.dir, p.vmlinux.file),
      initrd: join(guest.dir, p.initramfs.file),
      params: guest.manifest.kernel.cmdline.split(/\s+/).filter((x) => x && !x.startsWith('console=') && !x.startsWith('panic=')),
    },
    rootfs: { path: join(guest.dir, p.rootfs.file), sizeBytes: p.rootfs.size },
    agent: { transport: 'serial', socketPath: join(runDir, 'agent.sock') },
  };
  const args = buildQemuArgs(c);
  args.push('-object', `memory-backend-file,id=ram0,size=512M,mem-path=${ram.file},share=${ram.share ? 'on' : 'off'},readonly=${ram.readonly ? 'on' : 'off'}`, '-machine', 'memory-backend=ram0');
  if (incoming) args.push('-incoming', 'defer');
  const err = openSync(join(runDir, 'qemu.stderr'), 'w');
  const child = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'ignore', err] });
  closeSync(err);
  let exited = false;
  child.once('exit', () => (exited = true));
  let qmp: QmpClient | undefined;
  for (let i = 0; !qmp; i++) {
    if (exited || i > 200) throw new Error(`${name}: QEMU did not open QMP: ${readFileSync(join(runDir, 'qemu.stderr'), 'utf8').slice(-500)}`);
    qmp = await QmpClient.connect(join(runDir, 'qmp.sock'), { logger: silentLogger }).catch(async () => {
      await sleep(50);
      return undefined;
    });
  }
  const q = qmp;
  return {
    runDir,
    qmp: q,
    alive: () => !exited,
    stop: async () => {
      if (!exited) child.kill('SIGKILL');
      while (!exited) await sleep(20);
      q.close();
    },
  };
}

async function waitMigration(qmp: QmpClient): Promise<void> {
  for (;;) {
    const r = await qmp.execute<{ status?: string; 'error-desc'?: string }>('query-migrate');
    if (r.status === 'completed') return;
    if (r.status === 'failed') throw new Error(`migration failed: ${r['error-desc'] ?? ''}`);
    await sleep(20);
  }
}

async function measureTemplate(guest: GuestImage, restores: number): Promise<{ bootMs: number; saveMs: number; stateBytes: number; restoreMs: number[]; readonlyOutcome: string }> {
  const base = mkdtempSync('/run/vmpod-tmpl-');
  const ramFile = join('/dev/shm', `vmpod-tmpl-${process.pid}.ram`);
  const stateFile = join(base, 'state');
  const vms: TemplateVm[] = [];
  try {
    const t0 = Date.now();
    const tmpl = await launchTemplateVm(guest, base, 't', { file: ramFile, share: true, readonly: false }, false);
    vms.push(tmpl);
    await agentReady(join(tmpl.runDir, 'agent.sock'), 300_000, tmpl.alive);
    const bootMs = Date.now() - t0;
    const t1 = Date.now();
    await tmpl.qmp.execute('stop');
    await tmpl.qmp.execute('migrate-set-capabilities', { capabilities: [{ capability: 'x-ignore-shared', state: true }] });
    await tmpl.qmp.executeWithFd('getfd', { fdname: 'mig' }, openSync(stateFile, 'w', 0o600));
    await tmpl.qmp.execute('migrate', { uri: 'fd:mig' });
    await waitMigration(tmpl.qmp);
    const saveMs = Date.now() - t1;
    await tmpl.stop();
    const stateBytes = readFileSync(stateFile).length;

    const restoreMs: number[] = [];
    for (let i = 0; i < restores; i++) {
      const t = Date.now();
      const vm = await launchTemplateVm(guest, base, `r${i}`, { file: ramFile, share: false, readonly: false }, true);
      vms.push(vm);
      await vm.qmp.execute('migrate-set-capabilities', { capabilities: [{ capability: 'x-ignore-shared', state: true }] });
      await vm.qmp.executeWithFd('getfd', { fdname: 'mig' }, openSync(stateFile, 'r'));
      await vm.qmp.execute('migrate-incoming', { uri: 'fd:mig' });
      await waitMigration(vm.qmp);
      await vm.qmp.execute('cont');
      await agentReady(join(vm.runDir, 'agent.sock'), 60_000, vm.alive);
      restoreMs.push(Date.now() - t);
    }
    // The template file mapped read-only (readonly=on): the only QEMU 7.2 mode where the restoring QEMU cannot write it.
    let readonlyOutcome: string;
    try {
      const vm = await launchTemplateVm(guest, base, 'ro', { file: ramFile, share: false, readonly: true }, true);
      vms.push(vm);
      await vm.qmp.execute('migrate-set-capabilities', { capabilities: [{ capability: 'x-ignore-shared', state: true }] });
      await vm.qmp.executeWithFd('getfd', { fdname: 'mig' }, openSync(stateFile, 'r'));
      await vm.qmp.execute('migrate-incoming', { uri: 'fd:mig' });
      await waitMigration(vm.qmp);
      await vm.qmp.execute('cont');
      await agentReady(join(vm.runDir, 'agent.sock'), 30_000, vm.alive);
      readonlyOutcome = 'restored and the agent answered';
    } catch (err) {
      readonlyOutcome = `failed: ${(err as Error).message.slice(0, 200)}; QEMU stderr: ${
        readFileSync(join(base, 'ro', 'qemu.stderr'), 'utf8')
          .trim()
          .slice(-300) || '(empty)'
      }`;
    }
    return { bootMs, saveMs, stateBytes, restoreMs, readonlyOutcome };
  } finally {
    for (const v of vms) await v.stop().catch(() => undefined);
    rmSync(ramFile, { force: true });
    rmSync(base, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const runs = arg('--runs', 3);
  const floorRuns = arg('--floor-runs', 3);
  const restores = arg('--restores', 2);
  const guest = findGuestImage(process.env.VMPOD_GUEST_DIR);
  if ('missing' in guest) throw new Error(`guest image: ${guest.missing}`);
  if (guest.manifest.agent !== 'bundle') throw new Error(`guest image ${guest.dir} has no agent bundle`);
  const loadBefore = loadavg()[0].toFixed(1);

  const w = await openVmBenchWorld({ tmpPrefix: 'vpp-', netnsPrefix: 'vmpod-bench-pool-', cniName: 'vmpoolbench', bridge: 'vmpoolbr0', subnet: '10.88.84.0/24', guest });
  const live = w.pods;
  try {
    const { cfg, vmCfg, images, image, net } = w;
    const cold = new MicrovmController({ handler: 'vm', config: cfg, microvm: vmCfg, host: readHostFacts(), logger: silentLogger });
    w.controllers.push(cold);
    let pooled: MicrovmController | undefined;

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
    // Interleaved, so that a change of the host's load hits both alike; the pool's refill boot is waited for before each pooled start.
    // No boot runs beside a measured start: the pool (made after the first cold start) is full before, and refilled after, each pooled start.
    for (let r = 0; r < runs; r++) {
      coldS.push(await podRun(cold));
      if (!pooled) {
        pooled = new MicrovmController({ handler: 'vmpool', config: cfg, microvm: { ...vmCfg, pool_size: 1 }, host: readHostFacts(), logger: silentLogger });
        w.controllers.push(pooled);
      }
      await pooled.poolSettled();
      poolS.push(await podRun(pooled));
      await pooled.poolSettled();
    }
    await pooled?.close();
    const floor = await measureGuestBootFloor({ runs: floorRuns, guestDir: guest.dir });
    const floorMs = floor.median.nodeMs;
    const tmpl = await measureTemplate(guest, restores);

    const m = (xs: Sample[], k: 'ready' | 'container' | 'total') => median(xs.map((s) => s[k]));
    console.log(`guest ${guest.hash.slice(0, 12)}, TCG, -smp 1 -m 512M, ${runs} run(s) each, medians in seconds; load average ${loadBefore} at the start, ${loadavg()[0].toFixed(1)} at the end`);
    console.log(`guest-boot floor (QEMU spawn → Node.js ready): ${sec(floorMs)}`);
    console.log(`| start | pod ready | / floor | container first line | total | total / floor |`);
    console.log(`| --- | ---: | ---: | ---: | ---: | ---: |`);
    for (const [name, xs] of [
      ['cold', coldS],
      ['pool', poolS],
    ] as const)
      console.log(`| ${name} | ${sec(m(xs, 'ready'))} | ${(m(xs, 'ready') / floorMs).toFixed(2)}× | ${sec(m(xs, 'container'))} | ${sec(m(xs, 'total'))} | ${(m(xs, 'total') / floorMs).toFixed(2)}× |`);
    const poolPhases = Object.keys(poolS[0].phases);
    console.log(`pool hand-out phases (median s): ${poolPhases.map((p) => `${p} ${sec(median(poolS.map((s) => s.phases[p] ?? 0)))}`).join(', ')}`);
    const coldPhases = Object.keys(coldS[0].phases);
    console.log(`cold start phases (median s): ${coldPhases.map((p) => `${p} ${sec(median(coldS.map((s) => s.phases[p] ?? 0)))}`).join(', ')}`);
    console.log(
      `template: boot to agent-ready ${sec(tmpl.bootMs)}, save (stop + migrate x-ignore-shared to fd) ${sec(tmpl.saveMs)}, state ${(tmpl.stateBytes / 1024).toFixed(0)} KiB; restores (spawn → agent answers) ${tmpl.restoreMs.map(sec).join(', ')} → ${(median(tmpl.restoreMs) / floorMs).toFixed(2)}× floor`,
    );
    console.log(`template restore with readonly=on (no write access to the template): ${tmpl.readonlyOutcome}`);
  } finally {
    await w.close();
  }
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.stack : err);
    process.exit(1);
  });
}
