// Stage "throughput": N pods of one `sleep` container each started at once
// (RunPodSandbox, CreateContainer, StartContainer per pod, all N in flight),
// timed to the last StartContainer that returned, i.e. the last container
// running. The runtimes take turns round by round; the pods are removed
// (untimed) before the other side's round.

import type { PhaseRow } from '../lib/compare';
import { CALL_DEADLINE_MS, containerConfig, podConfig, type Workload } from '../lib/cri-workload';
import { depopulate, type Population } from './population';
import { StageRun, type Side } from './sides';

export async function throughputStage(
  sides: readonly Side[],
  w: Workload,
  o: { pods: number; rounds: number },
  log: (s: string) => void,
  stopping: () => boolean,
): Promise<{ rows: PhaseRow[]; notes: string[] }> {
  const run = new StageRun(sides, stopping);
  const samples = sides.map((): number[] => []);
  for (let r = 0; r < o.rounds; r++) {
    await run.round(r, async (t, s) => {
      const pop: Population = { pods: [], containers: [] };
      const rt = t.client.runtime;
      try {
        const start = process.hrtime.bigint();
        const results = await Promise.allSettled(
          Array.from({ length: o.pods }, async (_, p) => {
            const config = podConfig(w, `burst-${r}-${p}`);
            const { pod_sandbox_id: pod } = await rt.RunPodSandbox({ config }, CALL_DEADLINE_MS);
            pop.pods.push(pod);
            const { container_id: c } = await rt.CreateContainer({ pod_sandbox_id: pod, config: containerConfig(w, 'sleep'), sandbox_config: config }, CALL_DEADLINE_MS);
            await rt.StartContainer({ container_id: c }, CALL_DEADLINE_MS);
          }),
        );
        const ms = Number(process.hrtime.bigint() - start) / 1e6;
        const failed = results.find((x): x is PromiseRejectedResult => x.status === 'rejected');
        if (failed) throw failed.reason;
        samples[s].push(ms);
      } finally {
        await depopulate(t, pop);
      }
    });
    log(`  throughput round ${r + 1}/${o.rounds} done`);
  }
  return {
    rows: [{ label: `${o.pods} pods started at once, to the last running`, outcomes: run.outcomes(samples) }],
    notes: [],
  };
}
