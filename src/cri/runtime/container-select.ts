// The part ListContainers and ListContainerStats filter alike: by id prefix,
// pod id prefix and labels. State, which only ListContainers filters on,
// needs a refresh first and stays with that handler.

import type { ContainerRecord } from '../../store/container';
import type { RuntimeDeps } from './deps';
import { matchesLabels } from './ids';

export interface ContainerSelector {
  id: string;
  pod_sandbox_id: string;
  label_selector: Record<string, string>;
}

export function selectContainers(deps: RuntimeDeps, f: ContainerSelector | null | undefined): ContainerRecord[] {
  // Records still being created have no runtime yet; they are not listed.
  let items = deps.containers.list().filter((c) => c.runtime !== null);
  if (f?.id) items = items.filter((c) => c.id.startsWith(f.id));
  if (f?.pod_sandbox_id) items = items.filter((c) => c.podSandboxId.startsWith(f.pod_sandbox_id));
  if (f) items = items.filter((c) => matchesLabels(c.config.labels, f.label_selector));
  return items;
}
