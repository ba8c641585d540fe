// Pods and containers as a bench asks for them over CRI, configured the way
// kubelet would (one cgroup parent per pod, the cgroupfs driver), so that
// every runtime compared gets exactly the same requests.

import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { ContainerConfig } from '../../src/generated/cri/runtime/v1/ContainerConfig';
import type { PodSandboxConfig } from '../../src/generated/cri/runtime/v1/PodSandboxConfig';
import type { CriClient } from '../../test/helpers/cri-client';

/** Generous: a loaded 2-core machine can take seconds for one call; a hung runtime still ends the bench. */
export const CALL_DEADLINE_MS = 120_000;

/** A runtime under measurement. */
export interface CriTarget {
  name: string;
  client: CriClient;
  /** `runtime_name runtime_version` from Version. */
  version: string;
}

export interface Workload {
  /** Image reference of the workload container (already pulled). */
  image: string;
  command: string[];
  /** One path component; pods get `/<cgroupParent>/pod<uid>` (see bench/lib/isolate registerCgroupParent). */
  cgroupParent: string;
  logDir: string;
  /** Label `bench=<name>` on every pod. */
  bench: string;
  /** Pod annotations, e.g. `io.kubernetes.cri.untrusted-workload: "true"` for VM pods. */
  annotations?: Record<string, string>;
}

const NAMESPACES = { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } as const;

export function podConfig(w: Workload, name: string): PodSandboxConfig {
  const uid = randomBytes(8).toString('hex');
  return {
    metadata: { name, uid, namespace: 'bench', attempt: 0 },
    hostname: name,
    log_directory: join(w.logDir, `${name}-${uid}`),
    labels: { bench: w.bench },
    annotations: { ...w.annotations },
    linux: {
      // As kubelet does with the cgroupfs driver: one parent per pod.
      cgroup_parent: `/${w.cgroupParent}/pod${uid}`,
      security_context: { namespace_options: NAMESPACES },
    },
  };
}

export function containerConfig(w: Workload, name: string): ContainerConfig {
  return {
    metadata: { name, attempt: 0 },
    image: { image: w.image },
    command: w.command.slice(0, 1),
    args: w.command.slice(1),
    log_path: `${name}.log`,
    linux: { resources: {}, security_context: { namespace_options: NAMESPACES } },
  };
}

/** Best-effort removal through the API (CRI: Stop/Remove of what is already gone succeeds). */
export async function removePods(t: CriTarget, ids: readonly string[]): Promise<void> {
  for (const id of ids) {
    await t.client.runtime.StopPodSandbox({ pod_sandbox_id: id }, CALL_DEADLINE_MS).catch(() => undefined);
    await t.client.runtime.RemovePodSandbox({ pod_sandbox_id: id }, CALL_DEADLINE_MS).catch(() => undefined);
  }
}

export async function removeAllPods(t: CriTarget): Promise<void> {
  const { items } = await t.client.runtime.ListPodSandbox({}, CALL_DEADLINE_MS);
  await removePods(
    t,
    items.map((p) => p.id),
  );
}
