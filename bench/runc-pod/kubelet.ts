// Stage "kubelet": the steady state of a node. With P pods of 2 running
// containers on both runtimes, the loop kubelet runs every second is run
// back to back, K iterations per batch, the runtimes alternating batch by
// batch: ListPodSandbox, ListContainers, ListContainerStats,
// ListPodSandboxStats, then per pod a PodSandboxStatus and a ContainerStatus
// for each of its containers (as kubelet's GetPodStatus does).
//
// Measured per iteration: wall time, and the CPU time of the runtime's
// processes (daemon, monitors or shims, infra or pause, and the children
// they reaped; bench/lib/procs.ts), from /proc before and after the batch.
// Also the runtime's idle CPU per second with the same pods and no calls:
// what the node pays on top of the loop.

import { setTimeout as sleep } from 'node:timers/promises';
import type { PhaseRow } from '../lib/compare';
import { unavailable } from '../lib/compare';
import { CALL_DEADLINE_MS, type CriTarget, type Workload } from '../lib/cri-workload';
import { formatMs } from '../lib/format';
import { describeError } from '../lib/grpc-error';
import { clockTicks, cpuMsBetween, cpuMsByRole, cpuSnapshot, type RuntimeProcs } from '../lib/procs';
import { depopulate, populate, type Population } from './population';
import { StageRun, type Side } from './sides';

export const CONTAINERS_PER_POD = 2;

/** Idle window after each batch: 2 s, so that the 10 ms tick resolution is 0.5 % of a core rather than 1 %. */
const IDLE_WINDOW_MS = 2000;

/** One iteration of kubelet's loop; checks the counts so that a runtime answering with less cannot look cheap. */
async function kubeletIteration(t: CriTarget, pods: number): Promise<void> {
  const rt = t.client.runtime;
  const { items } = await rt.ListPodSandbox({}, CALL_DEADLINE_MS);
  if (items.length !== pods) throw new Error(`${t.name}: ListPodSandbox returned ${items.length} pods, ${pods} exist`);
  const { containers } = await rt.ListContainers({}, CALL_DEADLINE_MS);
  if (containers.length !== pods * CONTAINERS_PER_POD) throw new Error(`${t.name}: ListContainers returned ${containers.length}, ${pods * CONTAINERS_PER_POD} exist`);
  await rt.ListContainerStats({}, CALL_DEADLINE_MS);
  await rt.ListPodSandboxStats({}, CALL_DEADLINE_MS);
  const byPod = new Map<string, string[]>();
  for (const c of containers) byPod.set(c.pod_sandbox_id, [...(byPod.get(c.pod_sandbox_id) ?? []), c.id]);
  for (const p of items) {
    await rt.PodSandboxStatus({ pod_sandbox_id: p.id, verbose: false }, CALL_DEADLINE_MS);
    for (const c of byPod.get(p.id) ?? []) await rt.ContainerStatus({ container_id: c, verbose: false }, CALL_DEADLINE_MS);
  }
}

export async function kubeletStage(
  sides: readonly Side[],
  w: Workload,
  o: { pods: number; iterations: number; batches: number },
  log: (s: string) => void,
  stopping: () => boolean,
): Promise<{ rows: PhaseRow[]; notes: string[] }> {
  const run = new StageRun(sides, stopping);
  const pops = sides.map((): Population => ({ pods: [], containers: [] }));
  const wall = sides.map((): number[] => []);
  const cpu = sides.map((): number[] => []);
  const idle = sides.map((): number[] => []);
  const byRole = sides.map((): Record<string, number> => ({}));
  const iterations = sides.map(() => 0);
  const runtimes = sides.map((s) => s.procs).filter((p): p is RuntimeProcs => p !== undefined);
  const hz = clockTicks();
  let idleError: string | undefined;
  try {
    await run.round(0, (t, s) => populate(t, w, 'kubelet', o.pods, CONTAINERS_PER_POD, pops[s]));
    log(`  kubelet: ${o.pods} pods × ${CONTAINERS_PER_POD} running containers on each side`);
    for (let b = 0; b < o.batches; b++) {
      await run.round(b, async (t, s) => {
        const name = sides[s].name;
        await kubeletIteration(t, o.pods); // untimed: the first call after a pause may pay for caches or a GC
        const before = cpuSnapshot(runtimes, name);
        for (let k = 0; k < o.iterations; k++) {
          const t0 = process.hrtime.bigint();
          await kubeletIteration(t, o.pods);
          wall[s].push(Number(process.hrtime.bigint() - t0) / 1e6);
        }
        const after = cpuSnapshot(runtimes, name);
        // Everything the runtime used over the batch, its idle background included (the idle row says how much that is).
        cpu[s].push(cpuMsBetween(before, after, hz) / o.iterations);
        for (const [role, ms] of Object.entries(cpuMsByRole(before, after, hz))) byRole[s][role] = (byRole[s][role] ?? 0) + ms;
        iterations[s] += o.iterations;
      });
      // Idle: no calls for IDLE_WINDOW_MS, both runtimes at once.
      try {
        const before = sides.map((x) => (x.procs ? cpuSnapshot(runtimes, x.name) : undefined));
        const start = process.hrtime.bigint();
        await sleep(IDLE_WINDOW_MS);
        const seconds = Number(process.hrtime.bigint() - start) / 1e9;
        sides.forEach((x, s) => {
          const b0 = before[s];
          if (b0 && run.failed[s] === undefined) idle[s].push(cpuMsBetween(b0, cpuSnapshot(runtimes, x.name), hz) / seconds);
        });
      } catch (err) {
        idleError = describeError(err);
      }
      log(`  kubelet batch ${b + 1}/${o.batches} done`);
    }
  } finally {
    for (let s = 0; s < sides.length; s++) if (sides[s].target) await depopulate(sides[s].target!, pops[s]);
  }
  const idleOutcomes = run.outcomes(idle).map((x) => (idleError ? unavailable(idleError) : x));
  return {
    rows: [
      { label: `kubelet loop, wall per iteration (${o.pods} pods)`, outcomes: run.outcomes(wall) },
      { label: `kubelet loop, runtime CPU ms per iteration`, outcomes: run.outcomes(cpu) },
      { label: `idle, runtime CPU ms per second (${o.pods} pods)`, outcomes: idleOutcomes },
    ],
    notes: [
      ...sides.flatMap((x, s) =>
        iterations[s] === 0
          ? []
          : [
              `kubelet CPU per iteration by role, ${x.name}: ${Object.entries(byRole[s])
                .sort((a, b) => b[1] - a[1])
                .map(([role, ms]) => `${role} ${formatMs(ms / iterations[s])}`)
                .join(', ')}`,
            ],
      ),
      `kubelet: ${o.batches} batches of ${o.iterations} iterations per side (after one untimed iteration per batch); CPU = utime+stime+cutime+cstime of the daemon, its monitors or shims, infra or pause and their children, at ${hz} ticks/s`,
    ],
  };
}
