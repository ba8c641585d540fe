// Many pods with running containers on one runtime, as the list, kubelet and
// memory stages need them, made a few calls at a time and removed again
// through the API. Every id is recorded as soon as it exists, so a failure
// half-way still removes what was made.

import { CALL_DEADLINE_MS, containerConfig, podConfig, type CriTarget, type Workload } from '../lib/cri-workload';
import { inPool } from '../lib/pool';

export interface Population {
  pods: string[];
  containers: string[];
}

/** Pods and containers being made in parallel on a 2-core machine: beyond this, calls only queue. */
export const SETUP_PARALLELISM = 4;

/** `pods` pods of `perPod` running `sleep` containers each (a function: pod index → count); ids go into `into` as they are made. */
export async function populate(t: CriTarget, w: Workload, prefix: string, pods: number, perPod: number | ((pod: number) => number), into: Population): Promise<void> {
  const rt = t.client.runtime;
  await inPool(
    Array.from({ length: pods }, (_, p) => p),
    SETUP_PARALLELISM,
    async (p) => {
      const config = podConfig(w, `${prefix}-${p}`);
      const { pod_sandbox_id: pod } = await rt.RunPodSandbox({ config }, CALL_DEADLINE_MS);
      into.pods.push(pod);
      const n = typeof perPod === 'number' ? perPod : perPod(p);
      for (let i = 0; i < n; i++) {
        const { container_id: c } = await rt.CreateContainer({ pod_sandbox_id: pod, config: containerConfig(w, `c${i}`), sandbox_config: config }, CALL_DEADLINE_MS);
        into.containers.push(c);
        await rt.StartContainer({ container_id: c }, CALL_DEADLINE_MS);
      }
    },
  );
}

/** Best effort, in parallel: stop and remove every pod (CRI: the pod's containers go with it). */
export async function depopulate(t: CriTarget, p: Population): Promise<void> {
  const pods = p.pods.splice(0);
  p.containers.length = 0;
  await inPool(pods, SETUP_PARALLELISM, async (id) => {
    await t.client.runtime.StopPodSandbox({ pod_sandbox_id: id }, CALL_DEADLINE_MS).catch(() => undefined);
    await t.client.runtime.RemovePodSandbox({ pod_sandbox_id: id }, CALL_DEADLINE_MS).catch(() => undefined);
  });
}
