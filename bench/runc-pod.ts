// Benchmark: the trusted (runc) pod lifecycle over CRI, vmpod against
// Debian's containerd (CRI plugin, runc v2 shim) in the same run, measured
// with the project's own CRI client.
//
//   node dist/bench/runc-pod.js [--runs 5] [--list-count 20] [--json FILE]
//
// Medians of: RunPodSandbox + CreateContainer + StartContainer; ExecSync;
// StopContainer + RemoveContainer + StopPodSandbox + RemovePodSandbox; and
// ListContainers with --list-count containers present. Printed side by side
// with the ratio vmpod / containerd. A side that cannot run (e.g. vmpod's
// lifecycle handlers answer UNIMPLEMENTED) is reported as "not available:
// <gRPC error>", never as a number.
//
// The run re-executes itself in fresh network, mount and PID namespaces
// (bench/lib/isolate.ts): the registry, both daemons, their shims, conmons,
// CNI bridges and mounts all live and die there.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../src/paths';
import { busyboxEntries, BUSYBOX, makeTar, RegistryPusher, type TarEntry } from '../test/helpers/image-builder';
import { startRegistry } from '../test/helpers/registry';
import { parseBenchArgs } from './lib/args';
import { Cleanup, runWithCleanup } from './lib/cleanup';
import { benchNetwork, writeConflist } from './lib/cni';
import { CALL_DEADLINE_MS, containerConfig, podConfig, removeAllPods, removePods, type CriTarget, type Workload } from './lib/cri-workload';
import { describeError } from './lib/grpc-error';
import { roundOrder } from './lib/interleave';
import { measured, renderComparison, unavailable, type Outcome, type PhaseRow } from './lib/compare';
import { newCgroupParent } from './lib/isolate';
import { benchMain } from './lib/main';
import { benchEnvironment, describeEnvironment, writeJsonReport } from './lib/report';
import { msSince } from './lib/stats';
import { CNI_BIN_DIR, startBenchVmpod } from './lib/vmpod';
import { startContainerd } from './peers/containerd';

const SPEC = {
  description: 'bench/runc-pod: trusted-pod lifecycle latencies over CRI, vmpod vs containerd 1.6 (CRI plugin + runc), side by side.',
  defaultRuns: 5,
  ints: {
    'list-count': { default: 20, min: 1, max: 1000, help: 'containers present while timing ListContainers (the issue asks for 200)' },
    'list-calls': { default: 10, min: 1, max: 1000, help: 'ListContainers calls timed' },
    warmup: { default: 1, min: 0, max: 10, help: 'unmeasured pod lifecycles per runtime before the timed ones' },
  },
  bools: {
    'skip-vmpod': { help: 'measure containerd only' },
    'skip-containerd': { help: 'measure vmpod only' },
  },
};

const INFRA_BINARY = join(projectRoot(), 'native', 'infra', 'build', 'vmpod-infra');

/** The lifecycle phases timed per run, in the order they happen. */
const LIFECYCLE = ['run', 'create', 'start', 'exec', 'stopContainer', 'removeContainer', 'stopPod', 'removePod'] as const;
type LifecyclePhase = (typeof LIFECYCLE)[number];
type Samples = Record<LifecyclePhase, number[]>;

interface SideResult {
  name: string;
  version?: string;
  /** The pod IP the warm-up pod got from CNI ('none' if it got none). */
  podIp?: string;
  /** Why the lifecycle could not be measured, if it could not. */
  lifecycleError?: string;
  samples: Samples;
  listError?: string;
  list: number[];
}

function emptySamples(): Samples {
  return Object.fromEntries(LIFECYCLE.map((p) => [p, []])) as unknown as Samples;
}

async function time<T>(into: number[] | undefined, fn: () => Promise<T>): Promise<T> {
  const start = process.hrtime.bigint();
  const v = await fn();
  into?.push(msSince(start));
  return v;
}

/** One pod with one `sleep` container through its whole life; timings go into `s` (or nowhere for a warm-up). */
async function lifecycleOnce(t: CriTarget, w: Workload, name: string, s: Samples | undefined, seen?: { podIp?: string }): Promise<void> {
  const rt = t.client.runtime;
  const config = podConfig(w, name);
  const { pod_sandbox_id: pod } = await time(s?.run, () => rt.RunPodSandbox({ config }, CALL_DEADLINE_MS));
  try {
    // Untimed, in the warm-up only: shows that the pod really got its CNI address (a runtime that skipped networking would look fast).
    if (seen) seen.podIp = (await rt.PodSandboxStatus({ pod_sandbox_id: pod }, CALL_DEADLINE_MS)).status?.network?.ip || 'none';
    const { container_id: c } = await time(s?.create, () => rt.CreateContainer({ pod_sandbox_id: pod, config: containerConfig(w, 'sleep'), sandbox_config: config }, CALL_DEADLINE_MS));
    await time(s?.start, () => rt.StartContainer({ container_id: c }, CALL_DEADLINE_MS));
    const r = await time(s?.exec, () => rt.ExecSync({ container_id: c, cmd: ['/bin/true'], timeout: 30 }, CALL_DEADLINE_MS));
    if (r.exit_code !== 0) throw new Error(`${t.name}: ExecSync /bin/true exited ${r.exit_code}: ${Buffer.from(r.stderr ?? '').toString()}`);
    // CRI: timeout 0 means kill at once; `sleep` as PID 1 ignores SIGTERM anyway.
    await time(s?.stopContainer, () => rt.StopContainer({ container_id: c, timeout: 0 }, CALL_DEADLINE_MS));
    await time(s?.removeContainer, () => rt.RemoveContainer({ container_id: c }, CALL_DEADLINE_MS));
    await time(s?.stopPod, () => rt.StopPodSandbox({ pod_sandbox_id: pod }, CALL_DEADLINE_MS));
    await time(s?.removePod, () => rt.RemovePodSandbox({ pod_sandbox_id: pod }, CALL_DEADLINE_MS));
  } catch (err) {
    await removePods(t, [pod]);
    throw err;
  }
}

/** Creates `count` containers (not started: their number is what a List walks) in pods of 10; returns the pods. */
async function populate(t: CriTarget, w: Workload, count: number, pods: string[]): Promise<void> {
  for (let made = 0, p = 0; made < count; p++) {
    const config = podConfig(w, `list-${p}`);
    const { pod_sandbox_id: pod } = await t.client.runtime.RunPodSandbox({ config }, CALL_DEADLINE_MS);
    pods.push(pod);
    for (let i = 0; i < 10 && made < count; i++, made++) {
      await t.client.runtime.CreateContainer({ pod_sandbox_id: pod, config: containerConfig(w, `c${i}`), sandbox_config: config }, CALL_DEADLINE_MS);
    }
  }
}

class Interrupted extends Error {}

/**
 * Measures every target, interleaved run by run so that a change in the
 * machine's load (it is shared) lands on both sides alike. A side that fails
 * is recorded with the error and left out of later rounds.
 */
async function measureAll(
  targets: CriTarget[],
  w: Workload,
  o: { runs: number; warmup: number; listCount: number; listCalls: number },
  log: (s: string) => void,
  stopping: () => boolean,
): Promise<SideResult[]> {
  const results = targets.map((t): SideResult => ({ name: t.name, version: t.version, samples: emptySamples(), list: [] }));
  const check = () => {
    if (stopping()) throw new Interrupted('interrupted');
  };
  /** One round: `fn` on every side not yet failed (`failedYet`), in this round's order; a failure is recorded by `failed`. */
  const each = async (r: number, fn: (t: CriTarget, res: SideResult) => Promise<void>, failed: (res: SideResult, why: string) => void, failedYet: (res: SideResult) => boolean) => {
    for (const i of roundOrder(
      targets.map((_, i) => i),
      r,
    )) {
      const res = results[i];
      if (failedYet(res)) continue;
      check();
      try {
        await fn(targets[i], res);
      } catch (err) {
        check();
        failed(res, describeError(err));
      }
    }
  };
  const lifecycleFailed = (res: SideResult, why: string) => {
    res.lifecycleError = why;
    res.samples = emptySamples();
  };
  for (let i = 0; i < o.warmup; i++)
    await each(
      i,
      (t, res) => lifecycleOnce(t, w, `warmup-${i}`, undefined, res),
      lifecycleFailed,
      (res) => res.lifecycleError !== undefined,
    );
  for (let r = 0; r < o.runs; r++) {
    await each(
      r,
      (t, res) => lifecycleOnce(t, w, `pod-${r}`, res.samples),
      lifecycleFailed,
      (res) => res.lifecycleError !== undefined,
    );
    log(`  run ${r + 1}/${o.runs} done`);
  }
  // ListContainers: both populated first, then the calls alternate.
  const pods = targets.map((): string[] => []);
  const listFailed = (res: SideResult, why: string) => {
    res.listError = why;
    res.list = [];
  };
  const listStep = async (t: CriTarget, res: SideResult) => {
    const { containers } = await time(res.list, () => t.client.runtime.ListContainers({}, CALL_DEADLINE_MS));
    if (containers.length !== o.listCount) throw new Error(`${t.name}: ListContainers returned ${containers.length} containers, ${o.listCount} exist`);
  };
  try {
    await each(
      0,
      (t) => populate(t, w, o.listCount, pods[targets.indexOf(t)]),
      listFailed,
      (res) => res.listError !== undefined,
    );
    log(`  ${o.listCount} containers created on each side`);
    for (let c = 0; c < o.listCalls; c++) await each(c, listStep, listFailed, (res) => res.listError !== undefined);
  } finally {
    for (let i = 0; i < targets.length; i++) await removePods(targets[i], pods[i]);
  }
  return results;
}

function sum(s: Samples, phases: LifecyclePhase[]): number[] {
  return s[phases[0]].map((_, i) => phases.reduce((a, p) => a + s[p][i], 0));
}

function rowsFor(sides: SideResult[], listCount: number): PhaseRow[] {
  const lc = (label: string, pick: (s: Samples) => number[]): PhaseRow => ({
    label,
    outcomes: sides.map((x): Outcome => (x.lifecycleError ? unavailable(x.lifecycleError) : measured(pick(x.samples)))),
  });
  return [
    lc('run + create + start', (s) => sum(s, ['run', 'create', 'start'])),
    lc('  RunPodSandbox', (s) => s.run),
    lc('  CreateContainer', (s) => s.create),
    lc('  StartContainer', (s) => s.start),
    lc('ExecSync /bin/true', (s) => s.exec),
    lc('stop + remove (container, pod)', (s) => sum(s, ['stopContainer', 'removeContainer', 'stopPod', 'removePod'])),
    lc('  StopContainer (timeout 0)', (s) => s.stopContainer),
    lc('  RemoveContainer', (s) => s.removeContainer),
    lc('  StopPodSandbox', (s) => s.stopPod),
    lc('  RemovePodSandbox', (s) => s.removePod),
    { label: `ListContainers (${listCount} present)`, outcomes: sides.map((x) => (x.listError ? unavailable(x.listError) : measured(x.list))) },
  ];
}

/** The pause image: the project's infra process, or — loudly — a busybox placeholder when it is not built. */
async function pauseLayer(): Promise<{ entries: TarEntry[]; entrypoint: string[]; placeholder: boolean }> {
  if (existsSync(INFRA_BINARY)) return { entries: [{ name: 'pause', content: readFileSync(INFRA_BINARY), mode: 0o755 }], entrypoint: ['/pause'], placeholder: false };
  return { entries: [{ name: 'bin/' }, { name: 'bin/busybox', content: readFileSync(BUSYBOX), mode: 0o755 }], entrypoint: ['/bin/busybox', 'sleep', '2147483647'], placeholder: true };
}

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

function unavailableSide(name: string, reason: string): SideResult {
  return { name, lifecycleError: reason, listError: reason, samples: emptySamples(), list: [] };
}

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
    const pause = await pauseLayer();
    if (pause.placeholder) {
      log(`\n!!! ${INFRA_BINARY} is not built (run native/infra/build.sh): the pause image is a BUSYBOX PLACEHOLDER running "sleep", not vmpod-infra !!!\n`);
    }
    await pusher.pushImage('bench/pause', 'v1', [{ tar: await makeTar(pause.entries), compression: 'gzip' }], { config: { Entrypoint: pause.entrypoint, Cmd: undefined } });
    await pusher.pushImage('bench/busybox', 'v1', [{ tar: await makeTar(workloadEntries()), compression: 'gzip' }]);
    const w: Workload = { image: `${reg.host}/bench/busybox:v1`, command: ['/bin/sleep', '3600'], cgroupParent, logDir: join(work, 'pod-logs'), bench: 'runc-pod' };

    const sides: SideResult[] = [];
    const targets: CriTarget[] = [];

    // vmpod first in every table: the ratio column is vmpod / containerd.
    if (args.bools['skip-vmpod']) sides.push(unavailableSide('vmpod', 'skipped (--skip-vmpod)'));
    else {
      try {
        // info, like containerd here: both log each state-changing call, neither logs every List.
        const d = await startBenchVmpod(cleanup, work, reg.host);
        const v = await d.client.runtime.Version({ version: 'v1' });
        const t: CriTarget = { name: 'vmpod', client: d.client, version: `${v.runtime_name} ${v.runtime_version}` };
        // ListPodSandbox answers UNIMPLEMENTED until the lifecycle handlers are wired into the daemon.
        await d.client.runtime.ListPodSandbox({});
        cleanup.add('remove vmpod pods', () => removeAllPods(t));
        await d.client.image.PullImage({ image: { image: w.image } }, CALL_DEADLINE_MS);
        targets.push(t);
      } catch (err) {
        sides.push(unavailableSide('vmpod', describeError(err)));
      }
    }
    if (args.bools['skip-containerd']) sides.push(unavailableSide('containerd', 'skipped (--skip-containerd)'));
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
        targets.push(t);
      } catch (err) {
        sides.push(unavailableSide('containerd', describeError(err)));
      }
    }

    log(
      `measuring ${targets.map((t) => `${t.name} (${t.version})`).join(' and ')}: ${args.ints.warmup} warm-up + ${args.runs} runs each, interleaved, then ListContainers with ${args.ints['list-count']} containers`,
    );
    sides.push(...(await measureAll(targets, w, { runs: args.runs, warmup: args.ints.warmup, listCount: args.ints['list-count'], listCalls: args.ints['list-calls'] }, log, () => cleanup.started)));
    sides.sort((a, b) => (a.name === 'vmpod' ? -1 : b.name === 'vmpod' ? 1 : 0));

    const rows = rowsFor(sides, args.ints['list-count']);
    console.log(`\nbench/runc-pod  ${describeEnvironment(env)}`);
    console.log(`runs ${args.runs} (+${args.ints.warmup} warm-up), ListContainers: ${args.ints['list-calls']} calls with ${args.ints['list-count']} containers present`);
    for (const s of sides) console.log(`${s.name}: ${s.version ?? 'not started'}${s.podIp ? `, pod IP ${s.podIp}` : ''}`);
    console.log(`pause image for containerd: ${pause.placeholder ? 'BUSYBOX PLACEHOLDER (vmpod-infra not built)' : 'vmpod-infra (native/infra)'}; vmpod runs its infra binary directly\n`);
    console.log(
      renderComparison(
        sides.map((s) => s.name),
        rows,
      ),
    );
    if (args.json) writeJsonReport(args.json, 'runc-pod', env, { runs: args.runs, warmup: args.ints.warmup, listCount: args.ints['list-count'], pausePlaceholder: pause.placeholder, sides, rows });
  });
}

if (require.main === module) void benchMain('dist/bench/runc-pod.js', SPEC, __filename, inner);
