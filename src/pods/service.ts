// The pod domain's one entry point. The CRI handlers (src/cri/runtime) call
// one method each; every method resolves the ids it is given (an exact id or
// a unique prefix, as crictl lets users type), takes the locks its operation
// needs and applies the CRI idempotency rules, so the handlers only convert
// requests and answers. The PodService owns the per-daemon state of the
// domain (locks, CPU samples, the event broadcaster) and listens to what the
// controllers report.

import type { Duplex } from 'node:stream';
import { FailedPreconditionError, NotFoundError } from '../../common/errors';
import type { ContainerConfig__Output } from '../generated/cri/runtime/v1/ContainerConfig';
import type { LinuxContainerResources__Output } from '../generated/cri/runtime/v1/LinuxContainerResources';
import type { PodSandboxConfig__Output } from '../generated/cri/runtime/v1/PodSandboxConfig';
import type { Logger } from '../log';
import type { CheckpointOptions, ControllerEvent, ExecResult, ProcessIO, StreamOptions } from '../sandbox/controller';
import type { ContainerRecord } from '../store/container';
import type { SandboxRecord } from '../store/sandbox';
import { checkpointContainer } from './checkpoint';
import * as containers from './container-lifecycle';
import { updatePodResources } from './pod-resources';
import { attachStreams, execStreams, execSync, reopenContainerLog, requireRunning, updateContainer } from './container-ops';
import { CpuSamples } from './cpu-samples';
import { podLog, podRuntime, type Domain, type DomainDeps } from './domain';
import { PodEvents, type EventSubscription } from './events';
import { markPodNotReady, recordState } from './exits';
import type { ContainerFilter, PodFilter } from './filters';
import { KeyedLock } from './locks';
import * as pods from './pod-lifecycle';
import { recoverInterrupted } from './recover';
import * as stats from './stats';
import * as status from './status';

export type PodServiceDeps = DomainDeps;

export class PodService {
  private readonly d: Domain;

  constructor(deps: PodServiceDeps) {
    this.d = { ...deps, locks: { pods: new KeyedLock(), containers: new KeyedLock() }, cpu: new CpuSamples(), events: new PodEvents() };
    for (const ctl of deps.controllers.values()) ctl.onEvent((e) => this.onEvent(e));
  }

  /** Roll back creates a crash interrupted; call once before serving. */
  recover(): Promise<number> {
    return recoverInterrupted(this.d);
  }

  /**
   * Daemon shutdown, first step: every GetContainerEvents stream ends with
   * UNAVAILABLE and no new one starts. Call it before waiting for in-flight
   * calls to finish: an event stream never finishes on its own.
   */
  endEventStreams(): void {
    this.d.events.close();
  }

  /** Daemon shutdown: event streams end, controllers let go of connections; pods keep running. */
  async close(): Promise<void> {
    this.endEventStreams();
    for (const ctl of this.d.controllers.values()) await ctl.close();
  }

  /** What the service keeps per pod and container (a leak check: all 0 once every pod is removed). */
  retained(): { cpuSamples: number; podLocks: number; containerLocks: number } {
    return { cpuSamples: this.d.cpu.size, podLocks: this.d.locks.pods.size, containerLocks: this.d.locks.containers.size };
  }

  /**
   * Container and pod lifecycle events from now on (GetContainerEvents);
   * close() the subscription when the client goes away. `bound`: how many
   * events it may fall behind before it is dropped (events.ts).
   */
  subscribe(bound?: number): EventSubscription {
    return this.d.events.subscribe(bound);
  }

  /** Event subscriptions open now (a leak check: 0 once every client went away). */
  eventSubscribers(): number {
    return this.d.events.subscribers;
  }

  private onEvent(e: ControllerEvent): void {
    // Called from a controller's watcher: a throw here would end the daemon.
    // A record write that fails (a full disk) leaves the record as it was,
    // and the next status or list call asks the controller again.
    try {
      if (e.kind === 'sandbox-died') {
        markPodNotReady(this.d, e.podSandboxId, `pod infra is gone (${e.reason}); pod sandbox is NOTREADY`);
        return;
      }
      const c = this.d.containers.get(e.containerId);
      if (c) recordState(this.d, c, e.state);
    } catch (err) {
      this.d.log.warn({ err, event: e.kind, id: e.kind === 'sandbox-died' ? e.podSandboxId : e.containerId }, 'recording a controller event failed; the next status call asks again');
    }
  }

  // --- pods ---

  runPod(config: PodSandboxConfig__Output, runtimeHandler: string, log: Logger): Promise<string> {
    return pods.runPod(this.d, config, runtimeHandler, log);
  }

  /** CRI: StopPodSandbox of a pod that is already gone succeeds. */
  stopPod(idOrPrefix: string): Promise<void> {
    return this.unlessPodGone(idOrPrefix, (sb, log) => pods.stopPod(this.d, sb, log));
  }

  /** CRI: RemovePodSandbox of a pod that is already gone succeeds. */
  removePod(idOrPrefix: string): Promise<void> {
    return this.unlessPodGone(idOrPrefix, (sb, log) => pods.removePod(this.d, sb, log));
  }

  private async unlessPodGone(idOrPrefix: string, fn: (sb: SandboxRecord, log: Logger) => Promise<void>): Promise<void> {
    const id = this.resolveOrGone(() => this.d.sandboxes.resolve(idOrPrefix, 'pod_sandbox_id').id);
    if (!id) return;
    await this.d.locks.pods.run(id, async () => {
      const sb = this.d.sandboxes.get(id);
      if (sb) await fn(sb, podLog(this.d, id));
    });
  }

  /** undefined when no record matches: Stop/Remove of what is gone are no-ops. */
  private resolveOrGone(resolve: () => string): string | undefined {
    try {
      return resolve();
    } catch (err) {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    }
  }

  podStatus(idOrPrefix: string, verbose: boolean): Promise<status.PodStatus> {
    return status.podStatus(this.d, this.d.sandboxes.resolve(idOrPrefix, 'pod_sandbox_id'), verbose);
  }

  listPods(filter?: PodFilter): Promise<SandboxRecord[]> {
    return status.listPods(this.d, filter);
  }

  /** A byte stream to `port` inside the pod (PortForward). */
  async portForward(idOrPrefix: string, port: number): Promise<Duplex> {
    const sb = this.d.sandboxes.resolve(idOrPrefix, 'pod_sandbox_id');
    const rt = podRuntime(this.d, sb);
    if (sb.state !== 'SANDBOX_READY' || !rt) throw new FailedPreconditionError(`pod sandbox ${sb.id} is not ready; port-forward needs a running pod`);
    return rt.ctl.portForward(rt.h, port);
  }

  // --- containers ---

  async createContainer(podIdOrPrefix: string, config: ContainerConfig__Output): Promise<string> {
    const id = this.d.sandboxes.resolve(podIdOrPrefix, 'pod_sandbox_id').id;
    // Under the pod's lock so that a concurrent StopPodSandbox cannot miss the new container.
    return this.d.locks.pods.run(id, () => containers.createContainer(this.d, this.d.sandboxes.resolve(id, 'pod_sandbox_id'), config));
  }

  startContainer(idOrPrefix: string): Promise<void> {
    return containers.startContainer(this.d, this.d.containers.resolve(idOrPrefix, 'container_id').id);
  }

  /** CRI: StopContainer of a container that is already gone succeeds. */
  async stopContainer(idOrPrefix: string, timeoutS: number): Promise<void> {
    const id = this.resolveOrGone(() => this.d.containers.resolve(idOrPrefix, 'container_id').id);
    if (id) await containers.stopContainer(this.d, id, timeoutS);
  }

  /** CRI: RemoveContainer of a container that is already gone succeeds. */
  async removeContainer(idOrPrefix: string): Promise<void> {
    const id = this.resolveOrGone(() => this.d.containers.resolve(idOrPrefix, 'container_id').id);
    if (id) await containers.removeContainer(this.d, id);
  }

  containerStatus(idOrPrefix: string, verbose: boolean): Promise<status.ContainerStatus> {
    return status.containerStatus(this.d, this.d.containers.resolve(idOrPrefix, 'container_id'), verbose);
  }

  listContainers(filter?: ContainerFilter): Promise<ContainerRecord[]> {
    return status.listContainers(this.d, filter);
  }

  execSync(idOrPrefix: string, cmd: string[], timeoutS: number): Promise<ExecResult> {
    return execSync(this.d, this.d.containers.resolve(idOrPrefix, 'container_id'), cmd, timeoutS);
  }

  /** The id of a running container, or NOT_FOUND / FAILED_PRECONDITION saying why not (before a streaming URL is issued). */
  requireRunning(idOrPrefix: string, what: string): Promise<string> {
    return requireRunning(this.d, this.d.containers.resolve(idOrPrefix, 'container_id'), what);
  }

  /** A process run in the container with streams (the streaming server's Exec). */
  exec(idOrPrefix: string, cmd: string[], opts: StreamOptions): Promise<ProcessIO> {
    return execStreams(this.d, this.d.containers.resolve(idOrPrefix, 'container_id'), cmd, opts);
  }

  /** The container's own stdio (the streaming server's Attach). */
  attach(idOrPrefix: string, opts: StreamOptions): Promise<ProcessIO> {
    return attachStreams(this.d, this.d.containers.resolve(idOrPrefix, 'container_id'), opts);
  }

  /** UpdatePodSandboxResources (pod-resources.ts). */
  updatePodResources(idOrPrefix: string, resources: LinuxContainerResources__Output | null, overhead: LinuxContainerResources__Output | null): Promise<void> {
    const id = this.d.sandboxes.resolve(idOrPrefix, 'pod_sandbox_id').id;
    return this.d.locks.pods.run(id, () => updatePodResources(this.d, this.d.sandboxes.resolve(id, 'pod_sandbox_id'), resources, overhead));
  }

  updateContainer(idOrPrefix: string, resources: LinuxContainerResources__Output): Promise<void> {
    const c = this.d.containers.resolve(idOrPrefix, 'container_id');
    return this.d.locks.containers.run(c.id, () => updateContainer(this.d, this.d.containers.get(c.id) ?? c, resources));
  }

  /** CheckpointContainer: the archive at opts.location (src/pods/checkpoint.ts), under the container's lock. */
  checkpointContainer(idOrPrefix: string, opts: CheckpointOptions): Promise<void> {
    const c = this.d.containers.resolve(idOrPrefix, 'container_id');
    return this.d.locks.containers.run(c.id, () => checkpointContainer(this.d, this.d.containers.get(c.id) ?? c, opts));
  }

  reopenContainerLog(idOrPrefix: string): Promise<void> {
    return reopenContainerLog(this.d, this.d.containers.resolve(idOrPrefix, 'container_id'));
  }

  // --- stats ---

  containerStats(idOrPrefix: string): Promise<stats.ContainerStatsView> {
    return stats.containerStats(this.d, this.d.containers.resolve(idOrPrefix, 'container_id'));
  }

  listContainerStats(filter: ContainerFilter | undefined, log: Logger): Promise<stats.ContainerStatsView[]> {
    return stats.listContainerStats(this.d, filter, log);
  }

  podStats(idOrPrefix: string, log: Logger): Promise<stats.PodStatsView> {
    return stats.podStats(this.d, this.d.sandboxes.resolve(idOrPrefix, 'pod_sandbox_id'), log);
  }

  listPodStats(filter: PodFilter | undefined, log: Logger): Promise<stats.PodStatsView[]> {
    return stats.listPodStats(this.d, filter, log);
  }

  podMetrics(log: Logger): ReturnType<typeof stats.podMetrics> {
    return stats.podMetrics(this.d, log);
  }
}
