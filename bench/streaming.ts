// Benchmark: exec round trip and port-forward throughput through the
// streaming server (src/streaming, docs/streaming.md), in one run:
//
//   node dist/bench/streaming.js [--runs 5] [--execs 20] [--vm-execs 5] [--mib 64] [--vm-mib 8] [--json FILE]
//
// * runc pods, vmpod against Debian's containerd 1.6 (its CRI plugin serves
//   Exec and PortForward from its own streaming server), with the same
//   clients on both sides: the whole `crictl exec <ctr> /bin/true` and
//   `crictl port-forward` of the shared crictl v1.26.1, and vmpod's own
//   SPDY dialer (Exec URL + SPDY v4 as client-go opens it; SPDY
//   port-forward). Each side's floor is measured too: ExecSync /bin/true
//   (the same exec without a stream) and the GET straight to the pod IP.
// * vmpod's runc pod over WebSocket (v5 exec, v4 port-forward; containerd
//   1.6 has no WebSocket), and the one-byte round trip inside an exec of cat.
// * One VM pod (vmpod's vm handler; TCG on the development machines): the
//   same exec and port-forward paths against their floors, ExecSync and
//   TCP straight to the pod IP.
//
// A port-forward sample is one HTTP/1.0 GET of a file of --mib (VM: --vm-mib)
// MiB from busybox httpd in the pod, timed until the whole body arrived.
// Every path runs once per round, the order reversed every other round,
// after one unmeasured warm-up round. A path that fails is reported as not
// available with its error, and left out of later rounds.
//
// The run re-executes itself in fresh network, mount and PID namespaces
// (bench/lib/isolate.ts) like bench/runc-pod.

import { join } from 'node:path';
import { findGuestImage } from '../src/host/guest-image';
import { busyboxEntries, makeTar, RegistryPusher, type TarEntry } from '../test/helpers/image-builder';
import { startRegistry } from '../test/helpers/registry';
import { parseBenchArgs } from './lib/args';
import { Cleanup, runWithCleanup } from './lib/cleanup';
import { benchNetwork, writeConflist } from './lib/cni';
import { MBPS, measured, renderComparison, summaryOf, unavailable, type ComparisonFormat, type Outcome, type PhaseRow } from './lib/compare';
import { CALL_DEADLINE_MS, containerConfig, podConfig, removeAllPods, type CriTarget, type Workload } from './lib/cri-workload';
import { crictlArgv, crictlExec, crictlPortForward } from './lib/crictl';
import { formatMs } from './lib/format';
import { describeError } from './lib/grpc-error';
import { roundOrder } from './lib/interleave';
import { newCgroupParent } from './lib/isolate';
import { benchMain } from './lib/main';
import { pauseLayer } from './lib/pause-image';
import { benchEnvironment, describeEnvironment, writeJsonReport } from './lib/report';
import { msSince } from './lib/stats';
import { spdyExec, spdyGet, tcpGet, wsEchoes, wsExec, wsGet } from './lib/stream-clients';
import { CNI_BIN_DIR, startBenchVmpod } from './lib/vmpod';
import { startContainerd } from './peers/containerd';

const SPEC = {
  description: 'bench/streaming: exec round trip and port-forward throughput through the streaming server; runc pods against containerd 1.6, one VM pod against its floors, same run.',
  defaultRuns: 5,
  ints: {
    execs: { default: 20, min: 1, max: 10_000, help: 'execs per exec path per round (runc pods)' },
    'vm-execs': { default: 5, min: 1, max: 10_000, help: 'execs per exec path per round (VM pod)' },
    echoes: { default: 200, min: 1, max: 100_000, help: 'one-byte round trips per round (vmpod runc pod, WebSocket)' },
    mib: { default: 64, min: 1, max: 4096, help: 'size of the file fetched per port-forward sample (runc pods)' },
    'vm-mib': { default: 8, min: 1, max: 1024, help: 'size of the file fetched per port-forward sample (VM pod; TCG is slow)' },
  },
  bools: {
    'skip-containerd': { help: 'no containerd side' },
    'skip-vm': { help: 'no VM pod' },
  },
};

const PORT = 8080;
const UNTRUSTED = { 'io.kubernetes.cri.untrusted-workload': 'true' };
/** TCG boots on a loaded 2-core machine can take minutes. */
const VM_CONFIG = '[runtime.handlers.vm]\nboot_timeout_s = 300';

/** One measured path: its samples, or why it has none. */
interface Path {
  key: string;
  samples: number[];
  error?: string;
  /** One round's worth of samples. */
  step: () => Promise<void>;
}

/** A pod running busybox httpd over a file of `mib` MiB, reached by one runtime. */
interface HttpdPod {
  t: CriTarget;
  socket: string;
  pod: string;
  ctr: string;
  ip: string;
  size: number;
}

function workloadEntries(): TarEntry[] {
  // The helper's hard links carry mode 0644, and containerd applies a hard link's mode to the shared inode: give them busybox's.
  const base = busyboxEntries().map((e) => (e.type === 'link' ? { ...e, mode: 0o755 } : e));
  return [...base, ...['sh', 'sleep', 'true', 'cat', 'httpd', 'dd', 'mkdir'].map((n): TarEntry => ({ name: `bin/${n}`, type: 'symlink', linkname: 'busybox' }))];
}

function httpdWorkload(base: Omit<Workload, 'command'>, mib: number): Workload {
  return { ...base, command: ['/bin/sh', '-c', `mkdir -p /www && dd if=/dev/zero of=/www/blob bs=1048576 count=${mib} 2>/dev/null && exec httpd -f -p ${PORT} -h /www`] };
}

/** Runs the httpd pod and waits (untimed) until it serves the whole file at its IP. */
async function startHttpdPod(t: CriTarget, socket: string, w: Workload, name: string, mib: number): Promise<HttpdPod> {
  const rt = t.client.runtime;
  const config = podConfig(w, name);
  const { pod_sandbox_id: pod } = await rt.RunPodSandbox({ config }, CALL_DEADLINE_MS * 3);
  const ip = (await rt.PodSandboxStatus({ pod_sandbox_id: pod }, CALL_DEADLINE_MS)).status?.network?.ip ?? '';
  if (!ip) throw new Error(`${t.name}: pod ${name} has no IP`);
  const { container_id: ctr } = await rt.CreateContainer({ pod_sandbox_id: pod, config: containerConfig(w, 'httpd'), sandbox_config: config }, CALL_DEADLINE_MS);
  await rt.StartContainer({ container_id: ctr }, CALL_DEADLINE_MS);
  const size = mib << 20;
  for (let i = 0; ; i++) {
    const ok = await tcpGet(ip, PORT, size).then(
      () => true,
      () => false,
    );
    if (ok) break;
    if (i > 600) throw new Error(`${t.name}: httpd in pod ${name} did not serve ${mib} MiB at ${ip}:${PORT}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return { t, socket, pod, ctr, ip, size };
}

/** `n` timed calls of `fn` into `into` (ms). */
const repeat = (into: () => number[], n: number, fn: () => Promise<void>) => async () => {
  for (let i = 0; i < n; i++) {
    const start = process.hrtime.bigint();
    await fn();
    into().push(msSince(start));
  }
};

/** One timed GET of the pod's file, as MB/s, into `into`. */
const throughput = (into: () => number[], size: number, get: () => Promise<void>) => async () => {
  const start = process.hrtime.bigint();
  await get();
  into().push(size / 1e6 / (msSince(start) / 1000));
};

function checkStatus(what: string, status: string): void {
  if (!status.includes('Success')) throw new Error(`${what}: status ${status || '(none)'}`);
}

/** The paths measured against one pod; `prefix` names them (e.g. `runc.vmpod`). `ws` adds the WebSocket paths (vmpod only). */
async function podPaths(cleanup: Cleanup, p: HttpdPod, prefix: string, execs: number, ws: boolean): Promise<Path[]> {
  const rt = p.t.client.runtime;
  const crictl = crictlArgv(p.socket);
  const paths: Path[] = [];
  const add = (key: string, make: (into: () => number[]) => () => Promise<void>) => {
    const path: Path = { key: `${prefix}.${key}`, samples: [], step: async () => undefined };
    path.step = make(() => path.samples);
    paths.push(path);
  };
  const execUrl = async (cmd: string[], stdin: boolean) => (await rt.Exec({ container_id: p.ctr, cmd, stdin, stdout: true, stderr: false, tty: false }, CALL_DEADLINE_MS)).url;
  const pfUrl = async () => (await rt.PortForward({ pod_sandbox_id: p.pod, port: [PORT] }, CALL_DEADLINE_MS)).url;

  add('execSync', (into) =>
    repeat(into, execs, async () => {
      const r = await rt.ExecSync({ container_id: p.ctr, cmd: ['/bin/true'], timeout: 60 }, CALL_DEADLINE_MS);
      if (r.exit_code !== 0) throw new Error(`ExecSync /bin/true exited ${r.exit_code}`);
    }),
  );
  add('crictlExec', (into) => repeat(into, execs, () => crictlExec(crictl, p.ctr, ['/bin/true'])));
  add('spdyExec', (into) => repeat(into, execs, async () => checkStatus('SPDY exec', await spdyExec(await execUrl(['/bin/true'], false)))));
  if (ws) add('wsExec', (into) => repeat(into, execs, async () => checkStatus('WebSocket exec', await wsExec(await execUrl(['/bin/true'], false)))));
  add('tcp', (into) => throughput(into, p.size, () => tcpGet(p.ip, PORT, p.size)));
  // crictl port-forward is started once; each GET is a new stream pair on its connection, as a user's requests would be.
  let local: Promise<number> | undefined;
  add('crictlPf', (into) =>
    throughput(into, p.size, async () => {
      local ??= crictlPortForward(cleanup, crictl, p.pod, PORT);
      await tcpGet('127.0.0.1', await local, p.size);
    }),
  );
  add('spdyPf', (into) => throughput(into, p.size, async () => spdyGet(await pfUrl(), PORT, p.size)));
  if (ws) add('wsPf', (into) => throughput(into, p.size, async () => wsGet(await pfUrl(), PORT, p.size)));
  return paths;
}

const outcome = (byKey: Map<string, Path>, key: string, missing: string): Outcome => {
  const p = byKey.get(key);
  if (!p) return unavailable(missing);
  return p.error !== undefined ? unavailable(p.error) : measured(p.samples);
};

/** The ms format with spread, for the exec tables. */
const MS_SPREAD: ComparisonFormat = { value: formatMs, spread: true };
const MBPS_SPREAD: ComparisonFormat = { ...MBPS, spread: true };

async function inner(work: string, argv: string[]): Promise<number> {
  const args = parseBenchArgs(argv, SPEC);
  const cleanup = new Cleanup();
  const log = (s: string) => process.stderr.write(`${s}\n`);
  return runWithCleanup(cleanup, async () => {
    const env = benchEnvironment();
    const cgroupParent = newCgroupParent(work);
    const reg = await startRegistry();
    cleanup.add('stop docker-registry', () => reg.stop());
    const pusher = new RegistryPusher(reg);
    const pause = pauseLayer();
    await pusher.pushImage('bench/pause', 'v1', [{ tar: await makeTar(pause.entries), compression: 'gzip' }], { config: { Entrypoint: pause.entrypoint, Cmd: undefined } });
    await pusher.pushImage('bench/busybox', 'v1', [{ tar: await makeTar(workloadEntries()), compression: 'gzip' }]);
    const base = { image: `${reg.host}/bench/busybox:v1`, cgroupParent, logDir: join(work, 'pod-logs'), bench: 'streaming' };
    const { mib } = args.ints;
    const vmMib = args.ints['vm-mib'];

    const paths: Path[] = [];
    const missing: Record<string, string> = {};
    const versions: string[] = [];

    const d = await startBenchVmpod(cleanup, work, reg.host, VM_CONFIG);
    const vmpod: CriTarget = { name: 'vmpod', client: d.client, version: '' };
    const vv = await d.client.runtime.Version({ version: 'v1' });
    vmpod.version = `${vv.runtime_name} ${vv.runtime_version}`;
    versions.push(vmpod.version);
    cleanup.add('remove vmpod pods', () => removeAllPods(vmpod));
    await d.client.image.PullImage({ image: { image: base.image } }, CALL_DEADLINE_MS);
    const runcVmpod = await startHttpdPod(vmpod, d.socket, httpdWorkload(base, mib), 'stream-runc', mib);
    paths.push(...(await podPaths(cleanup, runcVmpod, 'runc.vmpod', args.ints.execs, true)));
    const echo: Path = { key: 'runc.vmpod.echo', samples: [], step: async () => undefined };
    echo.step = async () =>
      wsEchoes(
        (await d.client.runtime.Exec({ container_id: runcVmpod.ctr, cmd: ['/bin/cat'], stdin: true, stdout: true, stderr: false, tty: false }, CALL_DEADLINE_MS)).url,
        args.ints.echoes,
        echo.samples,
      );
    paths.push(echo);

    if (args.bools['skip-containerd']) missing.containerd = 'skipped (--skip-containerd)';
    else {
      try {
        const cni = writeConflist(join(work, 'cni-containerd'), benchNetwork('containerd-bench', 'vbench-ctd0', 0));
        const c = await startContainerd({ dir: join(work, 'containerd'), sandboxImage: `${reg.host}/bench/pause:v1`, insecureRegistries: [reg.host], cniConfDir: cni, cniBinDir: CNI_BIN_DIR });
        cleanup.add('stop containerd', () => c.stop());
        const t: CriTarget = { name: 'containerd', client: c.client, version: c.version };
        versions.push(c.version);
        cleanup.add('remove containerd pods', () => removeAllPods(t));
        await c.client.image.PullImage({ image: { image: `${reg.host}/bench/pause:v1` } }, CALL_DEADLINE_MS);
        await c.client.image.PullImage({ image: { image: base.image } }, CALL_DEADLINE_MS);
        const p = await startHttpdPod(t, c.paths.socket, httpdWorkload(base, mib), 'stream-runc', mib);
        paths.push(...(await podPaths(cleanup, p, 'runc.containerd', args.ints.execs, false)));
      } catch (err) {
        missing.containerd = describeError(err);
      }
    }

    if (args.bools['skip-vm']) missing.vm = 'skipped (--skip-vm)';
    else {
      const guest = findGuestImage(process.env.VMPOD_GUEST_DIR);
      if ('missing' in guest) missing.vm = `guest image: ${guest.missing}`;
      else {
        try {
          log('starting the VM pod (TCG boots take a while)');
          const p = await startHttpdPod(vmpod, d.socket, { ...httpdWorkload(base, vmMib), annotations: UNTRUSTED }, 'stream-vm', vmMib);
          paths.push(...(await podPaths(cleanup, p, 'vm', args.ints['vm-execs'], true)));
        } catch (err) {
          missing.vm = describeError(err);
        }
      }
    }

    const run = async (p: Path) => {
      if (p.error !== undefined) return;
      try {
        await p.step();
      } catch (err) {
        if (cleanup.started) throw err;
        p.error = describeError(err);
        p.samples.length = 0;
        log(`  ${p.key}: ${p.error}`);
      }
    };
    // Same-kind paths side by side (vmpod's, containerd's, the VM pod's), so that the two runtimes alternate path by path.
    const kinds = ['execSync', 'crictlExec', 'spdyExec', 'wsExec', 'echo', 'tcp', 'crictlPf', 'spdyPf', 'wsPf'];
    const kindOf = (p: Path) => kinds.indexOf(p.key.slice(p.key.lastIndexOf('.') + 1));
    paths.sort((a, b) => kindOf(a) - kindOf(b));
    log(`measuring ${paths.length} paths: ${versions.join(', ')}; 1 warm-up + ${args.runs} rounds`);
    for (const p of paths) await run(p);
    for (const p of paths) p.samples.length = 0;
    for (let r = 0; r < args.runs; r++) {
      for (const p of roundOrder(paths, r)) await run(p);
      log(`  round ${r + 1}/${args.runs} done`);
    }

    const byKey = new Map(paths.map((p) => [p.key, p]));
    const ctd = (key: string) => outcome(byKey, `runc.containerd.${key}`, missing.containerd ?? 'not measured');
    const mine = (key: string) => outcome(byKey, `runc.vmpod.${key}`, 'not measured');
    const vm = (key: string) => outcome(byKey, `vm.${key}`, missing.vm ?? 'not measured');
    const runcExec: PhaseRow[] = [
      { label: 'crictl exec <ctr> /bin/true (ms)', outcomes: [mine('crictlExec'), ctd('crictlExec')] },
      { label: 'Exec + SPDY v4 /bin/true (ms)', outcomes: [mine('spdyExec'), ctd('spdyExec')] },
      { label: 'ExecSync /bin/true, no stream (ms)', outcomes: [mine('execSync'), ctd('execSync')] },
    ];
    const runcPf: PhaseRow[] = [
      { label: `crictl port-forward, GET ${mib} MiB`, outcomes: [mine('crictlPf'), ctd('crictlPf')] },
      { label: `SPDY port-forward, GET ${mib} MiB`, outcomes: [mine('spdyPf'), ctd('spdyPf')] },
      { label: `TCP to the pod IP, GET ${mib} MiB`, outcomes: [mine('tcp'), ctd('tcp')] },
    ];
    const runcWs: PhaseRow[] = [{ label: 'exec /bin/true, WebSocket v5 vs ExecSync (ms)', outcomes: [mine('wsExec'), mine('execSync')] }];
    const runcWsPf: PhaseRow[] = [{ label: `port-forward GET ${mib} MiB, WebSocket v4 vs TCP`, outcomes: [mine('wsPf'), mine('tcp')] }];
    const vmExec: PhaseRow[] = [
      { label: 'crictl exec <ctr> /bin/true vs ExecSync (ms)', outcomes: [vm('crictlExec'), vm('execSync')] },
      { label: 'Exec + SPDY v4 vs ExecSync (ms)', outcomes: [vm('spdyExec'), vm('execSync')] },
      { label: 'Exec + WebSocket v5 vs ExecSync (ms)', outcomes: [vm('wsExec'), vm('execSync')] },
    ];
    const vmPf: PhaseRow[] = [
      { label: `crictl port-forward vs TCP, GET ${vmMib} MiB`, outcomes: [vm('crictlPf'), vm('tcp')] },
      { label: `SPDY port-forward vs TCP, GET ${vmMib} MiB`, outcomes: [vm('spdyPf'), vm('tcp')] },
      { label: `WebSocket v4 port-forward vs TCP, GET ${vmMib} MiB`, outcomes: [vm('wsPf'), vm('tcp')] },
    ];
    const echoSummary = summaryOf(mine('echo'));

    console.log(`\nbench/streaming  ${describeEnvironment(env)}`);
    console.log(`${versions.join('; ')}; rounds ${args.runs} (+1 warm-up), order reversed every other round`);
    console.log(`runc pods: ${args.ints.execs} execs per exec path per round, one GET of ${mib} MiB per port-forward path per round`);
    console.log(`VM pod: ${args.ints['vm-execs']} execs per exec path per round, one GET of ${vmMib} MiB per port-forward path per round`);
    console.log(`pause image for containerd: ${pause.placeholder ? 'BUSYBOX PLACEHOLDER (vmpod-infra not built)' : 'vmpod-infra (native/infra)'}\n`);
    console.log('runc pod, exec round trip (lower is better):');
    console.log(renderComparison(['vmpod', 'containerd'], runcExec, MS_SPREAD));
    console.log('\nrunc pod, port-forward throughput (higher is better; ratio > 1: vmpod faster):');
    console.log(renderComparison(['vmpod', 'containerd'], runcPf, MBPS_SPREAD));
    console.log('\nvmpod runc pod over WebSocket (containerd 1.6 serves none), against the floor:');
    console.log(renderComparison(['streaming', 'floor'], runcWs, MS_SPREAD));
    console.log(renderComparison(['streaming', 'floor'], runcWsPf, MBPS_SPREAD));
    if (echoSummary)
      console.log(`one-byte round trip in an exec of cat, WebSocket v5: median ${formatMs(echoSummary.median)} (${formatMs(echoSummary.min)}–${formatMs(echoSummary.p90)}, n=${echoSummary.n})`);
    console.log('\nVM pod, exec round trip against ExecSync (lower is better):');
    console.log(renderComparison(['streaming', 'ExecSync'], vmExec, MS_SPREAD));
    console.log('\nVM pod, port-forward throughput against TCP to the pod IP (higher is better):');
    console.log(renderComparison(['streaming', 'TCP'], vmPf, MBPS_SPREAD));
    if (args.json) {
      const samples = Object.fromEntries(paths.map((p) => [p.key, p.error !== undefined ? { error: p.error } : p.samples]));
      writeJsonReport(args.json, 'streaming', env, { runs: args.runs, mib, vmMib, versions, missing, pausePlaceholder: pause.placeholder, samples, runcExec, runcPf, runcWs, runcWsPf, vmExec, vmPf });
    }
  });
}

if (require.main === module) void benchMain('dist/bench/streaming.js', SPEC, __filename, inner);
