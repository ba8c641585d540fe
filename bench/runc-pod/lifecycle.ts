// Stage "lifecycle": one pod with one `sleep` container through its whole
// life, every CRI call timed by the client, runtimes alternating run by run.

import type { PhaseRow } from '../lib/compare';
import { CALL_DEADLINE_MS, containerConfig, podConfig, removePods, type CriTarget, type Workload } from '../lib/cri-workload';
import { StageRun, timeInto, type Side } from './sides';

const PHASES = ['run', 'create', 'start', 'exec', 'stopContainer', 'removeContainer', 'stopPod', 'removePod'] as const;
type Phase = (typeof PHASES)[number];
type Samples = Record<Phase, number[]>;

const emptySamples = (): Samples => Object.fromEntries(PHASES.map((p) => [p, []])) as unknown as Samples;

/** One lifecycle; timings go into `s` (or nowhere for a warm-up, which reports the pod's CNI address instead). */
async function lifecycleOnce(t: CriTarget, w: Workload, name: string, s: Samples | undefined, seen?: { podIp?: string }): Promise<void> {
  const rt = t.client.runtime;
  const config = podConfig(w, name);
  const { pod_sandbox_id: pod } = await timeInto(s?.run, () => rt.RunPodSandbox({ config }, CALL_DEADLINE_MS));
  try {
    // Untimed, in the warm-up only: shows that the pod really got its CNI address (a runtime that skipped networking would look fast).
    if (seen) seen.podIp = (await rt.PodSandboxStatus({ pod_sandbox_id: pod }, CALL_DEADLINE_MS)).status?.network?.ip || 'none';
    const { container_id: c } = await timeInto(s?.create, () => rt.CreateContainer({ pod_sandbox_id: pod, config: containerConfig(w, 'sleep'), sandbox_config: config }, CALL_DEADLINE_MS));
    await timeInto(s?.start, () => rt.StartContainer({ container_id: c }, CALL_DEADLINE_MS));
    const r = await timeInto(s?.exec, () => rt.ExecSync({ container_id: c, cmd: ['/bin/true'], timeout: 30 }, CALL_DEADLINE_MS));
    if (r.exit_code !== 0) throw new Error(`${t.name}: ExecSync /bin/true exited ${r.exit_code}: ${Buffer.from(r.stderr ?? '').toString()}`);
    // CRI: timeout 0 means kill at once; `sleep` as PID 1 ignores SIGTERM anyway.
    await timeInto(s?.stopContainer, () => rt.StopContainer({ container_id: c, timeout: 0 }, CALL_DEADLINE_MS));
    await timeInto(s?.removeContainer, () => rt.RemoveContainer({ container_id: c }, CALL_DEADLINE_MS));
    await timeInto(s?.stopPod, () => rt.StopPodSandbox({ pod_sandbox_id: pod }, CALL_DEADLINE_MS));
    await timeInto(s?.removePod, () => rt.RemovePodSandbox({ pod_sandbox_id: pod }, CALL_DEADLINE_MS));
  } catch (err) {
    await removePods(t, [pod]);
    throw err;
  }
}

const sum = (s: Samples, phases: Phase[]): number[] => s[phases[0]].map((_, i) => phases.reduce((a, p) => a + s[p][i], 0));

export async function lifecycleStage(
  sides: readonly Side[],
  w: Workload,
  o: { runs: number; warmup: number },
  log: (s: string) => void,
  stopping: () => boolean,
): Promise<{ rows: PhaseRow[]; notes: string[] }> {
  const run = new StageRun(sides, stopping);
  const samples = sides.map(emptySamples);
  const seen = sides.map((): { podIp?: string } => ({}));
  for (let i = 0; i < o.warmup; i++) await run.round(i, (t, s) => lifecycleOnce(t, w, `warmup-${i}`, undefined, seen[s]));
  for (let r = 0; r < o.runs; r++) {
    await run.round(r, (t, s) => lifecycleOnce(t, w, `pod-${r}`, samples[s]));
    log(`  lifecycle run ${r + 1}/${o.runs} done`);
  }
  const row = (label: string, pick: (s: Samples) => number[]): PhaseRow => ({ label, outcomes: run.outcomes(samples.map(pick)) });
  return {
    rows: [
      row('run + create + start', (s) => sum(s, ['run', 'create', 'start'])),
      row('  RunPodSandbox', (s) => s.run),
      row('  CreateContainer', (s) => s.create),
      row('  StartContainer', (s) => s.start),
      row('ExecSync /bin/true', (s) => s.exec),
      row('stop + remove (container, pod)', (s) => sum(s, ['stopContainer', 'removeContainer', 'stopPod', 'removePod'])),
      row('  StopContainer (timeout 0)', (s) => s.stopContainer),
      row('  RemoveContainer', (s) => s.removeContainer),
      row('  StopPodSandbox', (s) => s.stopPod),
      row('  RemovePodSandbox', (s) => s.removePod),
    ],
    notes: sides.map((s, i) => `${s.name}: warm-up pod IP ${seen[i].podIp ?? 'not seen'}`),
  };
}
