// The List* filters, in the domain's terms (the CRI handlers translate the
// request's filter into these). Ids match by prefix, as crictl lets users type.

import type { ContainerRecord, ContainerState } from '../store/container';
import type { SandboxRecord, SandboxState } from '../store/sandbox';

export interface PodFilter {
  id?: string;
  state?: SandboxState;
  labels?: Record<string, string>;
}

export interface ContainerFilter {
  id?: string;
  podSandboxId?: string;
  state?: ContainerState;
  labels?: Record<string, string>;
}

export function matchesLabels(labels: Record<string, string>, selector: Record<string, string> | undefined): boolean {
  for (const [k, v] of Object.entries(selector ?? {})) if (labels[k] !== v) return false;
  return true;
}

/** Pods that match everything but the state (which needs a refresh first). */
export function selectPods(all: readonly SandboxRecord[], f: PodFilter | undefined): SandboxRecord[] {
  // A pod still being created is not listed (kubelet would see a half-made pod).
  return all.filter((s) => !s.creating && (!f?.id || s.id.startsWith(f.id)) && matchesLabels(s.config.labels, f?.labels));
}

/** Containers that match everything but the state (which needs a refresh first). */
export function selectContainers(all: readonly ContainerRecord[], f: ContainerFilter | undefined): ContainerRecord[] {
  // A container still being created has no controller data yet; it is not listed.
  return all.filter((c) => c.controller !== null && (!f?.id || c.id.startsWith(f.id)) && (!f?.podSandboxId || c.podSandboxId.startsWith(f.podSandboxId)) && matchesLabels(c.config.labels, f?.labels));
}
