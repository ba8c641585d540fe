// Stage "lists": the calls kubelet and crictl make all the time, timed with
// N running containers present (in pods of 10) on both runtimes at once, the
// runtimes alternating call round by call round.

import type { PhaseRow } from '../lib/compare';
import { CALL_DEADLINE_MS, type Workload } from '../lib/cri-workload';
import { depopulate, populate, type Population } from './population';
import { lastPid } from '../lib/procs';
import { median } from '../lib/stats';
import { StageRun, timeInto, type Side } from './sides';

export const PODS_OF = 10;

const CALLS = ['ListContainers', 'ListPodSandbox', 'ContainerStatus', 'ListContainerStats', 'ImageFsInfo'] as const;
type Call = (typeof CALLS)[number];

export async function listsStage(
  sides: readonly Side[],
  w: Workload,
  o: { count: number; calls: number },
  log: (s: string) => void,
  stopping: () => boolean,
): Promise<{ rows: PhaseRow[]; notes: string[] }> {
  const run = new StageRun(sides, stopping);
  const pops = sides.map((): Population => ({ pods: [], containers: [] }));
  const perCall = () => Object.fromEntries(CALLS.map((c) => [c, [] as number[]])) as Record<Call, number[]>;
  const samples = sides.map(perCall);
  const started = sides.map(perCall);
  const pods = Math.ceil(o.count / PODS_OF);
  try {
    await run.round(0, (t, s) => populate(t, w, 'list', pods, (p) => Math.min(PODS_OF, o.count - p * PODS_OF), pops[s]));
    log(`  lists: ${o.count} running containers in ${pods} pods on each side`);
    for (let c = 0; c < o.calls; c++) {
      await run.round(c, async (t, s) => {
        const rt = t.client.runtime;
        /** Timed, and the tasks (processes or threads) the PID namespace gained meanwhile: only this side is being called. */
        const call = async <T>(name: Call, fn: () => Promise<T>): Promise<T> => {
          const before = lastPid();
          const v = await timeInto(samples[s][name], fn);
          started[s][name].push(lastPid() - before);
          return v;
        };
        const { containers } = await call('ListContainers', () => rt.ListContainers({}, CALL_DEADLINE_MS));
        if (containers.length !== o.count) throw new Error(`${t.name}: ListContainers returned ${containers.length} containers, ${o.count} exist`);
        const { items } = await call('ListPodSandbox', () => rt.ListPodSandbox({}, CALL_DEADLINE_MS));
        if (items.length !== pods) throw new Error(`${t.name}: ListPodSandbox returned ${items.length} pods, ${pods} exist`);
        const id = pops[s].containers[c % pops[s].containers.length];
        const st = await call('ContainerStatus', () => rt.ContainerStatus({ container_id: id, verbose: false }, CALL_DEADLINE_MS));
        if (st.status?.state !== 'CONTAINER_RUNNING') throw new Error(`${t.name}: ContainerStatus of ${id} says ${st.status?.state}, not running`);
        await call('ListContainerStats', () => rt.ListContainerStats({}, CALL_DEADLINE_MS));
        await call('ImageFsInfo', () => t.client.image.ImageFsInfo({}, CALL_DEADLINE_MS));
      });
    }
  } finally {
    for (let s = 0; s < sides.length; s++) if (sides[s].target) await depopulate(sides[s].target!, pops[s]);
  }
  return {
    rows: CALLS.map((c): PhaseRow => ({ label: `${c} (${o.count} running)`, outcomes: run.outcomes(samples.map((x) => x[c])) })),
    notes: [
      ...sides.flatMap((x, s) =>
        run.failed[s] !== undefined || started[s].ListContainers.length === 0
          ? []
          : [`lists: tasks (processes or threads) started per call, median (max), ${x.name}: ${CALLS.map((c) => `${c} ${median(started[s][c])} (${Math.max(...started[s][c])})`).join(', ')}`],
      ),
      `lists: ${o.calls} rounds; ContainerStatus asks for a different container each round`,
    ],
  };
}
