// One pod VM's life on the host after its start (start.ts): the live PodVm,
// reattaching to it after a daemon restart, stopping and removing it. A VM
// that ends on its own (QEMU killed, guest panic, guest power-off) is noticed
// from the process exit and QMP events at once and makes the pod not ready
// and its containers exited.
//
//   (none) ──start──► running ──VM exits by itself──► dead
//                        │                              │
//                        └──stop (agent power-off → QMP powerdown → quit → kill)──► dead ──remove──► (none)

import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { AgentClient, type AgentClientOptions } from '../../agent-client';
import type { MicrovmConfig } from '../../config/types';
import { InternalError } from '../../../common/errors';
import type { GuestImage } from '../../host/guest-image';
import { removeVmCgroup } from '../../host/vm-cgroup';
import { RUN_FILES, type AccelKind, type CidAllocator, type Hypervisor, type QemuUidAllocator, type VmExit, type VmHandle } from '../../hypervisor';
import type { Logger } from '../../log';
import { detachTap } from '../../network';
import { sleep } from '../../../common/time';
import type { SandboxHandle } from '../controller';
import { agentConnectFn, type AgentEndpoint } from './agent-connect';
import { decodeVmPodData, type VmPodData } from './data';
import { podPaths, recordedVmRunDir, vmRunPaths } from './layout';
import { removeVmRunDir } from './run-dir';
import { mountsUnder, unmountAll } from './share';
import type { PhaseObserver } from '../steps';
import { readVmCgroupRecord } from '../vm-pod-host';

/** What the controller resolves once per daemon: accelerator, agent transport, guest image. */
export interface VmHostChoice {
  accel: AccelKind;
  transport: 'vsock' | 'serial';
  guest: GuestImage;
}

export interface PodVmEnv {
  state: string;
  microvm: MicrovmConfig;
  hypervisor: Hypervisor;
  host(): Promise<VmHostChoice>;
  cids?: CidAllocator;
  /** Each pod's QEMU uid; absent: QEMU runs as root without a jail (unit tests with a fake hypervisor). */
  uids?: QemuUidAllocator;
  /** Agent call deadline for ordinary calls. */
  agentCallTimeoutMs: number;
  /** Told how long each step of a VM's start took (src/metrics). */
  phases?: PhaseObserver;
  /** `[debug] guest_shell` when a pod starts: its guest then accepts debug processes for life (CreateSandbox). */
  debugProcesses?: boolean;
}

/** Why a VM that ended by itself ended, in words for container messages and logs. */
export function describeExit(e: VmExit): string {
  const how = e.signal ? `signal ${e.signal}` : e.exitCode !== null ? `exit code ${e.exitCode}` : 'gone';
  return `pod VM ended (${e.reason}, ${how})`;
}

/** The live side of a VM pod in this daemon. */
export class PodVm {
  exit: VmExit | undefined;
  private readonly exitListeners = new Set<(e: VmExit) => void>();

  constructor(
    readonly id: string,
    readonly data: VmPodData,
    readonly vm: VmHandle | undefined,
    readonly agent: AgentClient,
    private readonly log: Logger,
  ) {
    if (!vm) {
      // The VM of a record we found after a restart is no longer running.
      this.exit = { reason: 'unknown', exitCode: null, signal: null, at: new Date() };
      return;
    }
    vm.onEvent((e) => {
      if (e.type === 'guest-panicked') this.log.warn({ detail: e.detail }, 'guest kernel panicked');
    });
    void vm.wait().then((e) => {
      this.exit = e;
      this.log.warn({ exit: e }, 'pod VM is gone');
      agent.close();
      for (const l of this.exitListeners) l(e);
    });
  }

  /** Set when this daemon lets go of the VM (shutdown): loops following it stop, the VM runs on. */
  detached = false;

  get alive(): boolean {
    return this.exit === undefined;
  }

  /** Drop QMP and agent connections, leave the VM running. */
  detach(): void {
    this.detached = true;
    this.vm?.detach();
    this.agent.close();
  }

  /** Called once when the VM ends (at once if it already has). */
  onExit(fn: (e: VmExit) => void): void {
    if (this.exit) fn(this.exit);
    else this.exitListeners.add(fn);
  }
}

export function newAgentClient(env: PodVmEnv, endpoint: AgentEndpoint, log: Logger, extra: Pick<AgentClientOptions, 'agentMayHoldOldConnection'> = {}): AgentClient {
  return new AgentClient({ connect: agentConnectFn(endpoint), logger: log, callTimeoutMs: env.agentCallTimeoutMs, connectTimeoutMs: 5000, ...extra });
}

/**
 * Where a restarted daemon finds the VM of a record: its run dir and agent
 * endpoint. Paths follow from the id; the record is only trusted for what
 * cannot be derived: which layout started the VM (layout.ts,
 * recordedVmRunDir) and the vsock CID. `notes` say what the record got
 * wrong. Pure.
 */
export function reattachTarget(
  state: string,
  podId: string,
  data: Partial<Pick<VmPodData, 'vmRunDir' | 'agent'>>,
): { runDir: string; layout: 'current' | 'previous'; endpoint: AgentEndpoint; notes: string[] } {
  const notes: string[] = [];
  const run = recordedVmRunDir(state, podId, data.vmRunDir);
  if (!run.known) notes.push(`the record names no VM run dir of either layout (${String(data.vmRunDir)}); looking in ${run.dir}`);
  // A record written by an older or broken daemon may lack the endpoint: the serial socket is in the run dir either way.
  const serial = join(run.dir, RUN_FILES.agentSocket);
  if (data.agent?.transport === 'vsock') return { runDir: run.dir, layout: run.layout, endpoint: data.agent, notes };
  if (data.agent && data.agent.socketPath !== serial) notes.push(`the record names agent socket ${data.agent.socketPath}; using ${serial}`);
  return { runDir: run.dir, layout: run.layout, endpoint: { transport: 'serial', socketPath: serial }, notes };
}

/** A VM pod of a record (after a daemon restart): reattach to the running VM, or a dead PodVm. */
export async function reattachPodVm(env: PodVmEnv, sb: SandboxHandle, log: Logger): Promise<PodVm> {
  const data = decodeVmPodData(sb.data, sb.id);
  const { runDir, layout, endpoint, notes } = reattachTarget(env.state, sb.id, data);
  for (const n of notes) log.warn(n);
  const vm = await env.hypervisor.reconnect(runDir).catch((err: unknown) => {
    log.warn({ err: (err as Error).message }, 'cannot reattach to the pod VM');
    return undefined;
  });
  // The agent still holds the previous daemon's connection: the client primes its first one.
  const agent = newAgentClient(env, endpoint, log, { agentMayHoldOldConnection: true });
  if (!vm) agent.close();
  log.info({ alive: vm !== undefined, runDir, layout }, 'pod VM reattached');
  return new PodVm(sb.id, data, vm, agent, log);
}

/** Power the VM off: the agent first (clean), then ACPI, quit, SIGKILL. Then the tap goes. Idempotent. */
export async function stopPodVm(pod: PodVm, log: Logger): Promise<void> {
  if (pod.vm && pod.alive) {
    try {
      await pod.agent.call('DestroySandbox', {}, { timeoutMs: 5000 });
      await Promise.race([pod.vm.wait(), sleep(5000)]);
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'agent DestroySandbox failed; powering the VM off from outside');
    }
    const exit = await pod.vm.stop({ gracefulTimeoutMs: 3000, quitTimeoutMs: 3000 });
    log.info({ exit }, 'pod VM stopped');
  }
  pod.agent.close();
  const d = pod.data;
  if (d.tapName && d.netnsPath && existsSync(d.netnsPath)) {
    await detachTap({ netns: d.netnsPath, tapName: d.tapName }).catch((err: unknown) => log.warn({ err: (err as Error).message }, 'tap removal failed'));
  }
}

/** Unmount everything under the pod dir and delete it; refuses to delete while anything is still mounted there. */
export async function removePodDir(dir: string): Promise<void> {
  await unmountAll(dir);
  const left = mountsUnder(dir);
  // rm -r through a still-mounted hostPath volume would delete the user's files.
  if (left.length > 0) throw new InternalError(`pod dir ${dir} still has mounts (${left.join(', ')}); not deleting it`);
  await rm(dir, { recursive: true, force: true });
}

/** Everything of the pod on the host. Idempotent; the VM must be stopped first. */
export async function removePodVm(env: PodVmEnv, podId: string, log: Logger): Promise<void> {
  const paths = podPaths(env.state, podId);
  await removeVmRunDir(env.hypervisor, vmRunPaths(env.state, podId));
  env.cids?.release(podId);
  // The VM is gone: its uid owns no process any more (files it left in volumes keep it, owned by no user).
  env.uids?.release(podId);
  // After the VM is gone (a cgroup with a process cannot go), before the record of it goes with the pod dir.
  await removeVmCgroup(await readVmCgroupRecord(paths.dir));
  await removePodDir(paths.dir);
  log.info('pod VM files removed');
}
