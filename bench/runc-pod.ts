// Benchmark: trusted (runc) pods over CRI, vmpod against Debian's containerd
// (CRI plugin, runc v2 shim) in the same run, measured with the project's
// own CRI client; every row of issue 18 as a ratio vmpod / containerd with
// median and min–p90. Stages (--only, default all):
//
//   calls       Version and ListPodSandbox with nothing running, back to
//               back and 100 ms apart, beside a null Node.js HTTP/2 server
//   lifecycle   each CRI call of one pod's life and the start/stop totals
//   lists       ListContainers, ListPodSandbox, ContainerStatus,
//               ListContainerStats, ImageFsInfo with N running containers
//   kubelet     kubelet's per-second loop over P pods × 2: wall and the
//               runtime's CPU time per iteration; idle CPU per second
//   memory      RSS and PSS of daemon + per-pod helpers, P pods × C
//   throughput  N pods started at once, time to the last one running
//
//   node dist/bench/runc-pod.js [--quick] [--only lifecycle,lists] [--json FILE]
//
// A side that cannot run (e.g. a handler answers UNIMPLEMENTED) is reported
// as "not available: <gRPC error>", never as a number. The run re-executes
// itself in fresh network, mount and PID namespaces (bench/lib/isolate.ts):
// the registry, both daemons, their shims, conmons, CNI bridges and mounts
// all live and die there.

import { loadavg } from 'node:os';
import { join } from 'node:path';
import { busyboxEntries, makeTar, RegistryPusher, type TarEntry } from '../test/helpers/image-builder';
import { startRegistry } from '../test/helpers/registry';
import { parseBenchArgs } from './lib/args';
import { Cleanup, runWithCleanup } from './lib/cleanup';
import { benchNetwork, writeConflist } from './lib/cni';
import { MS, renderComparison, type ComparisonFormat, type PhaseRow } from './lib/compare';
import { CALL_DEADLINE_MS, removeAllPods, type CriTarget, type Workload } from './lib/cri-workload';
import { formatBytes } from './lib/format';
import { describeError } from './lib/grpc-error';
import { newCgroupParent } from './lib/isolate';
import { benchMain } from './lib/main';
import { INFRA_BINARY, pauseLayer } from './lib/pause-image';
import { benchEnvironment, describeEnvironment, writeJsonReport } from './lib/report';
import { CNI_BIN_DIR, startBenchVmpod } from './lib/vmpod';
import { startContainerd } from './peers/containerd';
import { callsStage } from './runc-pod/calls';
import { kubeletStage } from './runc-pod/kubelet';
import { lifecycleStage } from './runc-pod/lifecycle';
import { listsStage } from './runc-pod/lists';
import { memoryStage } from './runc-pod/memory';
import { resolveOptions, SPEC, type Stage } from './runc-pod/options';
import type { Side } from './runc-pod/sides';
import { throughputStage } from './runc-pod/throughput';

/**
 * busybox with `sleep` and `true`. The helper's hard links (bin/ls, bin/cat)
 * carry mode 0644, and containerd, like Docker, applies a hard link entry's
 * mode to the shared inode, which would leave busybox not executable; give
 * them busybox's own mode.
 */
function workloadEntries(): TarEntry[] {
  const base = busyboxEntries().map((e) => (e.type === 'link' ? { ...e, mode: 0o755 } : e));
  return [...base, ...['sleep', 'true'].map((n): TarEntry => ({ name: `bin/${n}`, type: 'symlink', linkname: 'busybox' }))];
}

interface StageResult {
  stage: Stage;
  rows: PhaseRow[];
  notes: string[];
  format: ComparisonFormat;
}

async function inner(work: string, argv: string[]): Promise<number> {
  const args = parseBenchArgs(argv, SPEC);
  const o = resolveOptions(args, argv);
  const cleanup = new Cleanup();
  const log = (s: string) => process.stderr.write(`${s}\n`);
  const stopping = () => cleanup.started;
  return runWithCleanup(cleanup, async () => {
    const env = benchEnvironment();
    const cgroupParent = newCgroupParent(work);

    const reg = await startRegistry();
    cleanup.add('stop docker-registry', () => reg.stop());
    const pusher = new RegistryPusher(reg);
    const pause = pauseLayer();
    if (pause.placeholder) {
      log(`\n!!! ${INFRA_BINARY} is not built (run native/infra/build.sh): the pause image is a BUSYBOX PLACEHOLDER running "sleep", not vmpod-infra !!!\n`);
    }
    await pusher.pushImage('bench/pause', 'v1', [{ tar: await makeTar(pause.entries), compression: 'gzip' }], { config: { Entrypoint: pause.entrypoint, Cmd: undefined } });
    await pusher.pushImage('bench/busybox', 'v1', [{ tar: await makeTar(workloadEntries()), compression: 'gzip' }]);
    const w: Workload = { image: `${reg.host}/bench/busybox:v1`, command: ['/bin/sleep', '3600'], cgroupParent, logDir: join(work, 'pod-logs'), bench: 'runc-pod' };

    // vmpod first: the ratio column is vmpod / containerd.
    const sides: Side[] = [];
    if (args.bools['skip-vmpod']) sides.push({ name: 'vmpod', unavailable: 'skipped (--skip-vmpod)' });
    else {
      try {
        // info, like containerd here: both log each state-changing call, neither logs every List.
        const d = await startBenchVmpod(cleanup, work, reg.host);
        const v = await d.client.runtime.Version({ version: 'v1' });
        const t: CriTarget = { name: 'vmpod', client: d.client, version: `${v.runtime_name} ${v.runtime_version}` };
        await d.client.runtime.ListPodSandbox({});
        cleanup.add('remove vmpod pods', () => removeAllPods(t));
        await d.client.image.PullImage({ image: { image: w.image } }, CALL_DEADLINE_MS);
        sides.push({ name: 'vmpod', target: t, procs: { name: 'vmpod', daemonPid: d.proc.pid!, helperComms: ['conmon'], infraComms: ['vmpod-infra'] } });
      } catch (err) {
        sides.push({ name: 'vmpod', unavailable: describeError(err) });
      }
    }
    if (args.bools['skip-containerd']) sides.push({ name: 'containerd', unavailable: 'skipped (--skip-containerd)' });
    else {
      try {
        const cni = writeConflist(join(work, 'cni-containerd'), benchNetwork('containerd-bench', 'vbench-ctd0', 0));
        const c = await startContainerd({ dir: join(work, 'containerd'), sandboxImage: `${reg.host}/bench/pause:v1`, insecureRegistries: [reg.host], cniConfDir: cni, cniBinDir: CNI_BIN_DIR });
        cleanup.add('stop containerd', () => c.stop());
        const t: CriTarget = { name: 'containerd', client: c.client, version: c.version };
        cleanup.add('remove containerd pods', () => removeAllPods(t));
        // Pre-pull both images so that neither first RunPodSandbox nor CreateContainer is timed with a pull.
        await c.client.image.PullImage({ image: { image: `${reg.host}/bench/pause:v1` } }, CALL_DEADLINE_MS);
        await c.client.image.PullImage({ image: { image: w.image } }, CALL_DEADLINE_MS);
        // comm is cut to 15 characters: containerd-shim-runc-v2 shows as containerd-shim.
        sides.push({ name: 'containerd', target: t, procs: { name: 'containerd', daemonPid: c.pid, helperComms: ['containerd-shim'], infraComms: ['pause'] } });
      } catch (err) {
        sides.push({ name: 'containerd', unavailable: describeError(err) });
      }
    }

    const n = o.ints;
    log(`measuring ${sides.map((s) => `${s.name} (${s.target?.version ?? 'not available'})`).join(' and ')}: stages ${o.stages.join(', ')}`);
    const results: StageResult[] = [];
    for (const stage of o.stages) {
      log(`stage ${stage}`);
      const started = Date.now();
      let r: { rows: PhaseRow[]; notes: string[] };
      let format: ComparisonFormat = { ...MS, spread: true };
      switch (stage) {
        case 'calls':
          r = await callsStage(sides, { rounds: n['calls-rounds'], calls: n['calls-per-round'], work }, cleanup, log, stopping);
          break;
        case 'lifecycle':
          r = await lifecycleStage(sides, w, { runs: o.runs, warmup: n.warmup }, log, stopping);
          break;
        case 'lists':
          r = await listsStage(sides, w, { count: n['list-count'], calls: n['list-calls'] }, log, stopping);
          break;
        case 'kubelet':
          r = await kubeletStage(sides, w, { pods: n['kubelet-pods'], iterations: n['kubelet-iterations'], batches: n['kubelet-batches'] }, log, stopping);
          break;
        case 'memory':
          r = await memoryStage(sides, w, { pods: n['memory-pods'], containers: n['memory-containers'], samples: n['memory-samples'] }, log, stopping);
          format = { value: formatBytes, spread: true };
          break;
        case 'throughput':
          r = await throughputStage(sides, w, { pods: n['parallel-pods'], rounds: n['parallel-rounds'] }, log, stopping);
          break;
      }
      results.push({ stage, ...r, notes: [...r.notes, `${stage}: ${((Date.now() - started) / 1000).toFixed(0)} s`], format });
    }

    console.log(`\nbench/runc-pod  ${describeEnvironment(env)}`);
    console.log(`load average at the end ${loadavg()[0].toFixed(2)}`);
    console.log(`stages: ${o.stages.join(', ')}; lifecycle runs ${o.runs} (+${n.warmup} warm-up)`);
    for (const s of sides) console.log(`${s.name}: ${s.target?.version ?? `not available: ${s.unavailable}`}`);
    console.log(`pause image for containerd: ${pause.placeholder ? 'BUSYBOX PLACEHOLDER (vmpod-infra not built)' : 'vmpod-infra (native/infra)'}; vmpod runs its infra binary directly`);
    for (const r of results) {
      console.log(`\n## ${r.stage}\n`);
      console.log(
        renderComparison(
          sides.map((s) => s.name),
          r.rows,
          r.format,
        ),
      );
      for (const note of r.notes) console.log(note);
    }
    if (args.json)
      writeJsonReport(args.json, 'runc-pod', env, {
        options: o,
        pausePlaceholder: pause.placeholder,
        sides: sides.map((s) => ({ name: s.name, version: s.target?.version, unavailable: s.unavailable })),
        results,
      });
  });
}

if (require.main === module) void benchMain('dist/bench/runc-pod.js', SPEC, __filename, inner);
