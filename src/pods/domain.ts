// What every part of the pod domain works with: the stores, the controllers
// (one per configured handler), the image and network providers, the locks,
// the CPU samples and the event broadcaster. The PodService (service.ts) owns
// one Domain; the lifecycle modules are functions over it, so each stays small
// and testable with fakes.

import { FailedPreconditionError } from '../../common/errors';
import type { VmpodConfig } from '../config/types';
import type { Logger } from '../log';
import type { ContainerHandle, SandboxController, SandboxHandle } from '../sandbox/controller';
import type { ContainerRecord, ContainerStore } from '../store/container';
import type { SandboxRecord, SandboxStore } from '../store/sandbox';
import type { CpuSamples } from './cpu-samples';
import type { PodEvents } from './events';
import type { KeyedLock } from './locks';
import type { ImageProvider, PodNetworkProvider } from './providers';
import type { PhaseObserver } from '../sandbox/steps';

/** What the PodService is built from (the composition root passes these). */
export interface DomainDeps {
  config: VmpodConfig;
  log: Logger;
  sandboxes: SandboxStore;
  containers: ContainerStore;
  images: ImageProvider;
  network: PodNetworkProvider;
  /** One controller per configured handler, by handler name. */
  controllers: ReadonlyMap<string, SandboxController>;
  /** Told how long each step of RunPodSandbox and CreateContainer took (src/metrics); none when metrics are off. */
  phases?: PhaseObserver;
}

/** The deps and what the PodService keeps per daemon. */
export interface Domain extends DomainDeps {
  locks: { pods: KeyedLock; containers: KeyedLock };
  cpu: CpuSamples;
  /** Where the lifecycle modules publish each transition (GetContainerEvents subscribes here). */
  events: PodEvents;
}

export function controllerOf(d: Domain, sb: SandboxRecord): SandboxController {
  const c = d.controllers.get(sb.handler);
  if (!c) {
    throw new FailedPreconditionError(`pod sandbox ${sb.id} runs on handler "${sb.handler}", which is no longer in [runtime.handlers]; configure it again to manage or remove the pod`);
  }
  return c;
}

/** The pod as its controller sees it; null while its create is still running. */
export function sandboxHandle(sb: SandboxRecord): SandboxHandle | null {
  if (!sb.controller) return null;
  return { id: sb.id, config: sb.config, namespaces: sb.namespaces, hostname: sb.hostname, netnsPath: sb.netnsPath, data: sb.controller };
}

export function containerHandle(c: ContainerRecord): ContainerHandle | null {
  return c.controller ? { id: c.id, logPath: c.logPath, data: c.controller } : null;
}

/** The pod's controller and handle together, when the pod is fully created. */
export function podRuntime(d: Domain, sb: SandboxRecord): { ctl: SandboxController; h: SandboxHandle } | null {
  const h = sandboxHandle(sb);
  return h ? { ctl: controllerOf(d, sb), h } : null;
}

export function podLog(d: Domain, podSandboxId: string): Logger {
  return d.log.child({ subsystem: 'pod', podSandboxId });
}

export function containerLog(d: Domain, c: { id: string; podSandboxId: string }): Logger {
  return d.log.child({ subsystem: 'container', podSandboxId: c.podSandboxId, containerId: c.id });
}
