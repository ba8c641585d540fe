// bench/vm-pod: how long an untrusted pod takes to come up, and what an idle
// VM pod costs the host in memory.
//
//   node dist/bench/vm-pod.js [--runs 3] [--idle 3] [--floor-runs 3]
//
// * Start: RunPodSandbox-equivalent (CNI ADD + MicrovmController.createSandbox,
//   broken into its phases: share, tap, qemu, agent, sandbox, guest-network)
//   then CreateContainer + StartContainer of a busybox container until its
//   first output line is in the CRI log; median of --runs, printed with the
//   ratio to the guest-boot floor (bench/guest-boot's fastest configuration,
//   guest powered off after Node.js starts) measured in the same run.
// * Memory: PSS (proportional set size, /proc/<pid>/smaps_rollup) of QEMU
//   for one idle VM pod and the total for --idle pods running at once; PSS
//   splits the DAX-mapped rootfs pages among the VMs sharing them, so the
//   per-pod figure falls as pods are added.
// Runs the controller directly (no gRPC) inside a throw-away network
// namespace, with images from a local docker-registry.

import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultConfig } from '../src/config/defaults';
import type { ContainerConfig__Output } from '../src/generated/cri/runtime/v1/ContainerConfig';
import type { PodSandboxConfig__Output } from '../src/generated/cri/runtime/v1/PodSandboxConfig';
import { findGuestImage } from '../src/host/guest-image';
import { createImageService } from '../src/image';
import { silentLogger } from '../src/log';
import { PodNetwork } from '../src/network';
import { readHostFacts } from '../src/host/facts';
import { MicrovmController } from '../src/sandbox/microvm/controller';
import { decodeVmPodData } from '../src/sandbox/microvm/data';
import type { MicrovmHandlerConfig } from '../src/config/types';
import { unmountAll } from '../src/sandbox/microvm/share';
import { busyboxEntries, makeTar, RegistryPusher } from '../test/helpers/image-builder';
import { createNetnsSandbox } from '../test/helpers/netns-sandbox';
import { startRegistry } from '../test/helpers/registry';
import { measureGuestBootFloor } from './guest-boot';

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(name);
  const v = i >= 0 ? Number(process.argv[i + 1]) : dflt;
  if (!Number.isInteger(v) || v < 1) throw new Error(`${name} must be a positive integer`);
  return v;
};
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const pssKiB = (pid: number): number => Number(/^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0);
const sec = (ms: number): string => (ms / 1000).toFixed(2);

async function main(): Promise<void> {
  const runs = arg('--runs', 3);
  const idle = arg('--idle', 3);
  const floorRuns = arg('--floor-runs', 3);
  const guest = findGuestImage(process.env.VMPOD_GUEST_DIR);
  if ('missing' in guest) throw new Error(`guest image: ${guest.missing}`);
  if (guest.manifest.agent !== 'bundle') throw new Error(`guest image ${guest.dir} has no agent bundle`);

  const dir = mkdtempSync('/tmp/vpb-');
  const sb = createNetnsSandbox('vmpod-bench-net-');
  const reg = await startRegistry();
  const ctl: { c?: MicrovmController; net?: PodNetwork; pods: string[] } = { pods: [] };
  try {
    const cfg = defaultConfig();
    cfg.root = join(dir, 'r');
    cfg.state = join(dir, 's');
    const vmCfg: MicrovmHandlerConfig = { ...(cfg.runtime.handlers.vm as MicrovmHandlerConfig), accel: 'tcg', agent_transport: 'serial', guest_dir: guest.dir, boot_timeout_s: 300 };
    cfg.network = { cni_conf_dir: join(sb.dir, 'net.d'), cni_bin_dirs: ['/usr/lib/cni'], plugin_timeout_s: 30 };
    sb.exec(['mkdir', '-p', cfg.network.cni_conf_dir]);
    writeFileSync(
      join(cfg.network.cni_conf_dir, '10-bench.conflist'),
      JSON.stringify({
        cniVersion: '1.0.0',
        name: 'vmbench',
        plugins: [{ type: 'bridge', bridge: 'vmbenchbr0', isGateway: true, ipam: { type: 'host-local', ranges: [[{ subnet: '10.88.92.0/24' }]], dataDir: join(sb.dir, 'ipam') } }],
      }),
    );
    await new RegistryPusher(reg).pushImage('bench/busybox', 'v1', [{ tar: await makeTar(busyboxEntries()), compression: 'gzip' }], { config: { Cmd: ['/bin/sh'] } });
    const images = await createImageService({ root: cfg.root, registries: { [reg.host]: { insecure: true, mirrors: [] } }, log: silentLogger });
    const image = await images.pull(`${reg.host}/bench/busybox:v1`, null);
    const net = new PodNetwork({ config: cfg.network, root: cfg.root, state: cfg.state, logger: silentLogger, hostNetns: sb.netns });
    const c = new MicrovmController({ handler: 'vm', config: cfg, microvm: vmCfg, host: readHostFacts(), logger: silentLogger });
    ctl.c = c;
    ctl.net = net;

    let seq = 0;
    const startPod = async () => {
      const id = `bench${process.pid}x${String(seq++).padStart(6, '0')}`.padEnd(64, '0');
      const config = {
        metadata: { name: `bench-${seq}`, uid: id, namespace: 'bench', attempt: 0 },
        hostname: 'bench',
        log_directory: join(dir, 'logs', id),
        dns_config: null,
        port_mappings: [],
        labels: {},
        annotations: {},
        linux: null,
      } as unknown as PodSandboxConfig__Output;
      const t0 = Date.now();
      const n = await net.setup({ id, name: `bench-${seq}`, namespace: 'bench', uid: id, hostNetwork: false, portMappings: [] });
      ctl.pods.push(id);
      const data = await c.createSandbox({ id, config, namespaces: { network: 'POD', pid: 'POD', ipc: 'POD' }, hostname: 'bench', netnsPath: n.netnsPath, ips: [n.ips.ip], log: silentLogger });
      const ready = Date.now();
      return { id, config, data, netnsPath: n.netnsPath, cniMs: 0, readyMs: ready - t0 };
    };

    const samples: { total: number; ready: number; container: number; phases: Record<string, number> }[] = [];
    for (let r = 0; r < runs; r++) {
      const t0 = Date.now();
      const pod = await startPod();
      const sbh = { id: pod.id, config: pod.config, namespaces: { network: 'POD' as const, pid: 'POD' as const, ipc: 'POD' as const }, hostname: 'bench', netnsPath: pod.netnsPath, data: pod.data };
      const cid = `c${r}`.padEnd(64, '0');
      const layout = await images.prepareRootfs(cid, image.id);
      await images.mountRootfs(cid);
      const logPath = join(dir, 'logs', pod.id, 'c.log');
      const cconf = {
        metadata: { name: 'c', attempt: 0 },
        image: { image: image.id },
        command: ['/bin/sh', '-c', 'echo up; exec sleep 3600'],
        args: [],
        working_dir: '',
        envs: [],
        mounts: [],
        devices: [],
        labels: {},
        annotations: {},
        log_path: 'c.log',
        stdin: false,
        stdin_once: false,
        tty: false,
        linux: null,
        CDI_devices: [],
      } as unknown as ContainerConfig__Output;
      const tc = Date.now();
      const made = await c.createContainer({ id: cid, sandbox: sbh, config: cconf, image: image.config, rootfs: layout.mountpoint, logPath, log: silentLogger });
      const ch = { id: cid, logPath, data: made.data };
      await c.startContainer(sbh, ch);
      while (!(existsSync(logPath) && readFileSync(logPath, 'utf8').includes(' F up'))) await new Promise((res) => setTimeout(res, 20));
      const done = Date.now();
      samples.push({ total: done - t0, ready: pod.readyMs, container: done - tc, phases: decodeVmPodData(pod.data, pod.id).startPhasesMs });
      await c.removeContainer(sbh, ch, silentLogger);
      await images.releaseRootfs(cid);
      await c.removeSandbox(sbh, silentLogger);
      await net.teardown(pod.id);
      ctl.pods = ctl.pods.filter((p) => p !== pod.id);
    }

    const floor = await measureGuestBootFloor({ runs: floorRuns, guestDir: guest.dir });
    const floorMs = floor.median.nodeMs;
    const total = median(samples.map((s) => s.total));
    console.log(`guest ${guest.hash.slice(0, 12)}, TCG, ${runs} run(s), medians in seconds`);
    const phaseNames = Object.keys(samples[0].phases);
    for (const p of phaseNames) console.log(`  ${p.padEnd(14)} ${sec(median(samples.map((s) => s.phases[p] ?? 0)))}`);
    console.log(`  pod ready      ${sec(median(samples.map((s) => s.ready)))}  (CNI ADD + all of the above)`);
    console.log(`  container      ${sec(median(samples.map((s) => s.container)))}  (create + start + first log line)`);
    console.log(`  total          ${sec(total)}`);
    console.log(`guest-boot floor (QEMU start → Node.js ready in the guest): ${sec(floorMs)} → pod start / floor = ${(total / floorMs).toFixed(2)}x`);

    const pids: number[] = [];
    for (let i = 0; i < idle; i++) {
      const p = await startPod();
      pids.push(decodeVmPodData(p.data, p.id).pid);
    }
    await new Promise((res) => setTimeout(res, 3000));
    const one = pssKiB(pids[0]);
    const all = pids.reduce((a, p) => a + pssKiB(p), 0);
    console.log(`idle VM pod memory (QEMU PSS): 1 of ${idle}: ${(one / 1024).toFixed(1)} MiB; all ${idle}: ${(all / 1024).toFixed(1)} MiB (${(all / idle / 1024).toFixed(1)} MiB per pod)`);
  } finally {
    for (const id of ctl.pods) {
      // Paths follow from the id (reattachTarget): the cleanup needs no more of the record.
      const sbh = {
        id,
        config: {} as PodSandboxConfig__Output,
        namespaces: { network: 'POD' as const, pid: 'POD' as const, ipc: 'POD' as const },
        hostname: 'bench',
        netnsPath: '',
        data: { podDir: '', netnsPath: '', tapName: '' },
      };
      await ctl.c?.removeSandbox(sbh, silentLogger).catch((e: unknown) => console.error(`cleanup of ${id}: ${(e as Error).message}`));
      await ctl.net?.teardown(id).catch(() => undefined);
    }
    await reg.stop();
    sb.destroy();
    await unmountAll(dir);
    rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
