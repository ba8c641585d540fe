// One pod VM's life on the host. Start: the pod's files and read-only 9p
// share, the tap in the pod netns, QEMU (inside that netns), the agent's
// first answer within microvm.boot_timeout_s, then the sandbox and network
// set-up in the guest. Any failure undoes all of it and names the phase,
// with the guest console's tail. A VM that ends on its own (QEMU killed,
// guest panic, guest power-off) is noticed from the process exit and QMP
// events at once and makes the pod not ready and its containers exited.
//
//   (none) ──start──► running ──VM exits by itself──► dead
//                        │                              │
//                        └──stop (agent power-off → QMP powerdown → quit → kill)──► dead ──remove──► (none)

import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { AgentClient, AgentUnavailableError, type AgentClientOptions } from '../../agent-client';
import type { MicrovmConfig } from '../../config/types';
import { DeadlineExceededError, InternalError, isVmpodError, type VmpodError } from '../../../common/errors';
import type { GuestImage } from '../../host/guest-image';
import type { Hypervisor, VmExit, VmHandle } from '../../hypervisor/hypervisor';
import { RUN_FILES, type AccelKind, type VmConfig } from '../../hypervisor/vm-config';
import { startWithFreeCid, type CidAllocator } from '../../hypervisor/vsock-cid';
import type { Logger } from '../../log';
import { attachTap, detachTap, DEFAULT_TAP_NAME, type GuestNetwork } from '../../network';
import { hostnameFile, hostsFile, resolvConf } from '../../oci/pod-files';
import type { MicrovmSandboxData, SandboxCreateInput, SandboxHandle } from '../controller';
import { agentConnectFn, type AgentEndpoint } from './agent-connect';
import { phaseMessage, stuckPhase, type BootPhase } from './boot-phase';
import { GUEST_SHARED_DIR, podPaths, recordedVmRunDir, sharePath, vmRunPaths } from './layout';
import { makeVmRunDir, removeVmRunDir } from './run-dir';
import { mountShare, mountsUnder, unmountAll } from './share';
import { vmSize } from './sizing';
import { SHARED_MOUNT_TAG } from '../../hypervisor/vm-config';

/** What the sandbox record keeps about a VM pod (persisted; a restarted daemon finds the VM from it). */
export interface VmPodData extends MicrovmSandboxData {
  type: 'microvm';
  podDir: string;
  /** The VM's run dir; a restarted daemon tells the layout that started the VM by it (layout.ts, recordedVmRunDir). */
  vmRunDir: string;
  netnsPath: string;
  tapName: string;
  agent: AgentEndpoint;
  pid: number;
  vcpus: number;
  memoryMib: number;
  accel: AccelKind;
  consoleLog: string;
  guestHash: string;
  /** How long each phase of the start took (share, tap, qemu, agent, sandbox, guest-network). */
  startPhasesMs: Record<string, number>;
}

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
  /** Agent call deadline for ordinary calls. */
  agentCallTimeoutMs: number;
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

  constructor(readonly id: string, readonly data: VmPodData, readonly vm: VmHandle | undefined, readonly agent: AgentClient, private readonly log: Logger) {
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

function wrapPhase(podId: string, phase: BootPhase, err: unknown, consoleTail: string): Error {
  const msg = phaseMessage(podId, phase, (err as Error).message, consoleTail);
  if (isVmpodError(err)) {
    const e = err as VmpodError;
    e.message = msg;
    return e;
  }
  return new InternalError(msg, { cause: err });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Ask the agent until it answers, the VM dies, or the deadline passes. */
async function waitForAgent(vm: VmHandle, agent: AgentClient, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exit: VmExit | undefined;
  void vm.wait().then((e) => (exit = e));
  const exited = vm.wait();
  for (;;) {
    const remaining = deadline - Date.now();
    if (remaining <= 0) throw new DeadlineExceededError(`the guest agent did not answer within microvm.boot_timeout_s (${Math.round(timeoutMs / 1000)} s)`);
    const r = await Promise.race([
      agent.health({ timeoutMs: Math.min(remaining, 3000) }).then(
        () => 'ok' as const,
        (err: unknown) => err as Error,
      ),
      exited.then(() => 'exited' as const),
    ]);
    if (r === 'ok') return;
    if (r === 'exited' || exit) {
      const e = exit ?? (await exited);
      throw new InternalError(`the VM ended (${e.reason}${e.exitCode !== null ? `, exit code ${e.exitCode}` : ''}${e.signal ? `, ${e.signal}` : ''}) before the guest agent answered`);
    }
    // Nothing listening yet (vsock) or the call timed out while the guest boots: ask again.
    if (r instanceof AgentUnavailableError) await sleep(250);
  }
}

async function writePodFiles(shareSource: string, input: SandboxCreateInput): Promise<void> {
  await mkdir(join(shareSource, 'pod'), { recursive: true, mode: 0o755 });
  const hostname = input.hostname;
  const resolv = resolvConf(input.config.dns_config ?? null) ?? (await readFile('/etc/resolv.conf', 'utf8').catch(() => ''));
  await writeFile(join(shareSource, sharePath.podFile('hostname')), hostnameFile(hostname), { mode: 0o644 });
  await writeFile(join(shareSource, sharePath.podFile('hosts')), hostsFile(hostname, input.ips), { mode: 0o644 });
  await writeFile(join(shareSource, sharePath.podFile('resolv.conf')), resolv, { mode: 0o644 });
  await mkdir(join(shareSource, 'c'), { recursive: true, mode: 0o755 });
}

/** The agent's network set-up from the tap result. */
function guestNetworkCalls(net: GuestNetwork) {
  return {
    iface: { name: net.ifName, mac: net.mac.toLowerCase(), mtu: net.mtu, addresses: net.addresses.map((a) => `${a.address}/${a.prefixLen}`) },
    routes: { routes: net.routes.map((r) => ({ destination: r.dest, gateway: r.gateway ?? '', device: net.ifName, source: r.source ?? '' })) },
  };
}

export function newAgentClient(env: PodVmEnv, endpoint: AgentEndpoint, log: Logger, extra: Pick<AgentClientOptions, 'agentMayHoldOldConnection'> = {}): AgentClient {
  return new AgentClient({ connect: agentConnectFn(endpoint), logger: log, callTimeoutMs: env.agentCallTimeoutMs, connectTimeoutMs: 5000, ...extra });
}

export async function startPodVm(env: PodVmEnv, input: SandboxCreateInput): Promise<PodVm> {
  const { id } = input;
  const log = input.log.child({ subsystem: 'microvm' });
  const paths = podPaths(env.state, id);
  const run = vmRunPaths(env.state, id);
  const undo: { what: string; fn: () => Promise<void> }[] = [];
  const timings: Record<string, number> = {};
  const t0 = Date.now();
  let mark = t0;
  const lap = (name: string): void => {
    const now = Date.now();
    timings[name] = now - mark;
    mark = now;
  };
  let phase: BootPhase = 'qemu-start';
  let vm: VmHandle | undefined;
  let agent: AgentClient | undefined;
  try {
    const host = await env.host();
    const guest = host.guest;
    await writePodFiles(paths.shareSource, input);
    undo.push({ what: 'pod dir', fn: () => removePodDir(paths.dir) });
    await mountShare(paths.shareSource, paths.shared);
    lap('share');

    phase = 'network-setup';
    let net: GuestNetwork | undefined;
    if (input.netnsPath) {
      net = await attachTap({ netns: input.netnsPath, tapName: DEFAULT_TAP_NAME });
      undo.push({ what: 'tap', fn: () => detachTap({ netns: input.netnsPath, tapName: DEFAULT_TAP_NAME }) });
    }
    lap('tap');

    phase = 'qemu-start';
    const size = vmSize({
      baseVcpus: env.microvm.vcpus,
      baseMemoryMib: env.microvm.memory_mib,
      resources: input.config.linux?.resources ?? null,
      hostCpus: cpus().length,
      hostMemoryMib: Math.floor(totalmem() / (1024 * 1024)),
    });
    const parts = guest.manifest.parts;
    const configFor = (endpoint: AgentEndpoint): VmConfig => ({
      id,
      runDir: run.dir,
      accel: host.accel,
      vcpus: size.vcpus,
      memoryMib: size.memoryMib,
      boot: {
        kernel: join(guest.dir, parts.vmlinux.file),
        initrd: join(guest.dir, parts.initramfs.file),
        params: guest.manifest.kernel.cmdline.split(/\s+/).filter((p) => p && !p.startsWith('console=') && !p.startsWith('panic=')),
      },
      rootfs: { path: join(guest.dir, parts.rootfs.file), sizeBytes: parts.rootfs.size },
      sharedDir: paths.shared,
      agent: endpoint.transport === 'vsock' ? { transport: 'vsock', cid: endpoint.cid } : { transport: 'serial', socketPath: endpoint.socketPath },
      ...(net ? { network: { ifname: net.tapName, mac: net.mac } } : {}),
      ...(input.netnsPath ? { netnsPath: input.netnsPath } : {}),
    });
    log.info({ size: size.explain, accel: host.accel, transport: host.transport, guest: guest.hash }, 'starting pod VM');
    undo.push({ what: 'vm run dir', fn: () => removeVmRunDir(env.hypervisor, run) });
    await makeVmRunDir(run);
    let endpoint: AgentEndpoint;
    let started: VmHandle;
    if (host.transport === 'vsock') {
      const cids = env.cids;
      if (!cids) throw new InternalError('vsock transport chosen but no CID allocator configured');
      undo.push({ what: 'cid', fn: async () => cids.release(id) });
      const r = await startWithFreeCid(
        cids,
        id,
        async (cid) => ({ cid, vm: await env.hypervisor.start(configFor({ transport: 'vsock', cid })) }),
        (cid) => log.warn({ cid }, 'vsock CID held by a VM outside vmpod; trying the next one'),
      );
      endpoint = { transport: 'vsock', cid: r.cid };
      started = r.vm;
    } else {
      endpoint = { transport: 'serial', socketPath: run.agentSocket };
      started = await env.hypervisor.start(configFor(endpoint));
    }
    vm = started;
    undo.push({ what: 'vm', fn: async () => void (await started.stop({ gracefulTimeoutMs: 0, quitTimeoutMs: 2000 })) });
    lap('qemu');

    phase = 'kernel-boot';
    agent = newAgentClient(env, endpoint, log);
    try {
      await waitForAgent(started, agent, env.microvm.boot_timeout_s * 1000);
    } catch (err) {
      phase = stuckPhase(started.consoleTail(64 * 1024));
      throw err;
    }
    lap('agent');

    phase = 'sandbox-setup';
    const dns = input.config.dns_config;
    await agent.call('CreateSandbox', {
      sandbox_id: id,
      hostname: input.hostname,
      dns: { nameservers: dns?.servers ?? [], searches: dns?.searches ?? [], options: dns?.options ?? [] },
      shared_mounts: [{ tag: SHARED_MOUNT_TAG, mount_point: GUEST_SHARED_DIR, msize: 0, cache: '', read_only: false }],
      sysctls: input.config.linux?.sysctls ?? {},
      guest_time_unix_nano: Date.now() * 1e6,
    });
    lap('sandbox');

    if (net) {
      phase = 'network-setup';
      const calls = guestNetworkCalls(net);
      await agent.call('UpdateInterface', calls.iface);
      await agent.call('UpdateRoutes', calls.routes);
    }
    lap('guest-network');

    const data: VmPodData = {
      type: 'microvm',
      podDir: paths.dir,
      vmRunDir: run.dir,
      netnsPath: input.netnsPath,
      tapName: net ? net.tapName : '',
      agent: endpoint,
      pid: started.pid,
      vcpus: size.vcpus,
      memoryMib: size.memoryMib,
      accel: host.accel,
      consoleLog: started.consoleLog,
      guestHash: guest.hash,
      startPhasesMs: timings,
    };
    log.info({ phasesMs: timings, totalMs: Date.now() - t0, pid: started.pid }, 'pod VM ready');
    return new PodVm(id, data, started, agent, log);
  } catch (err) {
    const tail = vm?.consoleTail(4096) ?? '';
    log.error({ phase, err: (err as Error).message }, 'pod VM start failed; undoing');
    agent?.close();
    for (const u of undo.reverse()) {
      await u.fn().catch((e: unknown) => log.warn({ step: u.what, err: (e as Error).message }, 'undo failed'));
    }
    throw wrapPhase(id, phase, err, tail);
  }
}

/**
 * Where a restarted daemon finds the VM of a record: its run dir and agent
 * endpoint. Paths follow from the id; the record is only trusted for what
 * cannot be derived: which layout started the VM (layout.ts,
 * recordedVmRunDir) and the vsock CID. `notes` say what the record got
 * wrong. Pure.
 */
export function reattachTarget(state: string, podId: string, data: Partial<Pick<VmPodData, 'vmRunDir' | 'agent'>>): { runDir: string; layout: 'current' | 'previous'; endpoint: AgentEndpoint; notes: string[] } {
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
  const data = sb.runtime as VmPodData;
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
  await removePodDir(paths.dir);
  log.info('pod VM files removed');
}
