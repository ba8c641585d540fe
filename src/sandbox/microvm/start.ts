// Starting a pod VM, as named steps (sandbox/steps.ts): the pod dir and
// QEMU's uid; then at once (Steps.all) the read-only 9p shares (the pod's
// and its volumes'), the VM's cgroup, its run dir, and, once the pod's CNI
// ADD is done (RunPodSandbox runs it beside this), the pod files and the tap
// in the pod netns; then QEMU (inside that netns), the agent's first answer
// within boot_timeout_s, then the sandbox and its network in the guest (one
// call). Any failure undoes the steps done so far and names the phase, with
// the guest console's tail: the console is the only witness of a boot that
// went wrong, so it also decides whether a boot that never reached the
// agent got stuck in the kernel or the agent.

import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { AgentUnavailableError, type AgentClient } from '../../agent-client';
import { DeadlineExceededError, InternalError } from '../../../common/errors';
import { SHARED_MOUNT_TAG, VOLUME_MOUNT_TAG, startWithFreeCid, type VmConfig, type VmExit, type VmHandle } from '../../hypervisor';
import type { GuestNetwork } from '../../network';
import { hostnameFile, hostsFile, resolvConf } from '../../oci/pod-files';
import { sleep, unixNanoNumber } from '../../../common/time';
import { networked, type NetworkedCreateInput, type SandboxCreateInput } from '../controller';
import { restated, Steps } from '../steps';
import type { AgentEndpoint } from './agent-connect';
import { VM_DATA_VERSION, type VmPodData } from './data';
import { GUEST_SHARED_DIR, GUEST_VOLUME_DIR, podPaths, sharePath, VOLUME_SHARE_REL, vmRunPaths } from './layout';
import { newAgentClient, PodVm, removePodDir, type PodVmEnv } from './pod-vm';
import { makeVmRunDir, removeVmRunDir } from './run-dir';
import { makePrivatePodDir, mountShare } from './share';
import { vmSize } from './sizing';
import { tcgBootGate } from './boot-gate';
import { podVmConfig } from './vm-launch-config';
import { ownOomScoreAdj, vmCgroupLimits, vmOomScoreAdj } from '../../host/vm-cgroup';
import { qemuUidStep, tapStep, vmCgroupParallelStep } from '../vm-pod-host';

/** The init prints this right before it hands over to the agent (guest-image/initramfs/init). */
export const INIT_HANDOVER_MARKER = 'vmpod-init: switching root';
/** Printed by the init on any failure before it powers off. */
export const INIT_FAILED_MARKER = 'vmpod-init: FAILED';

/** Where a boot that ended (VM exit or timeout) before the agent answered got stuck. Pure. */
export function stuckPhase(console: string): 'kernel-boot' | 'agent-connect' {
  if (console.includes(INIT_FAILED_MARKER)) return 'kernel-boot';
  return console.includes(INIT_HANDOVER_MARKER) ? 'agent-connect' : 'kernel-boot';
}

/** One error message: the phase, what went wrong, and the guest console's last lines. Pure. */
export function phaseMessage(podId: string, phase: string, problem: string, consoleTail: string, maxLines = 20): string {
  const lines = consoleTail
    .split('\n')
    .filter((l) => l.trim() !== '')
    .slice(-maxLines);
  const tail = lines.length > 0 ? `; guest console (last ${lines.length} lines):\n${lines.join('\n')}` : '; the guest console is empty';
  return `pod VM ${podId}: ${phase} failed: ${problem}${tail}`;
}

/** Ask the agent until it answers, the VM dies, or the deadline passes. */
async function waitForAgent(vm: VmHandle, agent: AgentClient, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exit: VmExit | undefined;
  const exited = vm.wait().then((e) => (exit = e));
  for (;;) {
    const remaining = deadline - Date.now();
    if (remaining <= 0) throw new DeadlineExceededError(`the guest agent did not answer within boot_timeout_s (${Math.round(timeoutMs / 1000)} s)`);
    const r = await Promise.race([
      agent.health({ timeoutMs: Math.min(remaining, 3000) }).then(
        () => 'ok' as const,
        (err: unknown) => err as Error,
      ),
      exited.then(() => 'exited' as const),
    ]);
    if (r === 'ok') return;
    if (r === 'exited' || exit) {
      const e = exit ?? (await vm.wait());
      throw new InternalError(`the VM ended (${e.reason}${e.exitCode !== null ? `, exit code ${e.exitCode}` : ''}${e.signal ? `, ${e.signal}` : ''}) before the guest agent answered`);
    }
    // Nothing listening yet (vsock) or the call timed out while the guest boots: ask again.
    if (r instanceof AgentUnavailableError) await sleep(250);
  }
}

async function writePodFiles(shareSource: string, input: NetworkedCreateInput): Promise<void> {
  await mkdir(join(shareSource, 'pod'), { recursive: true, mode: 0o755 });
  const resolv = resolvConf(input.config.dns_config ?? null) ?? (await readFile('/etc/resolv.conf', 'utf8').catch(() => ''));
  await writeFile(join(shareSource, sharePath.podFile('hostname')), hostnameFile(input.hostname), { mode: 0o644 });
  await writeFile(join(shareSource, sharePath.podFile('hosts')), hostsFile(input.hostname, input.ips), { mode: 0o644 });
  await writeFile(join(shareSource, sharePath.podFile('resolv.conf')), resolv, { mode: 0o644 });
  await mkdir(join(shareSource, 'c'), { recursive: true, mode: 0o755 });
  // Where the guest mounts the volume share: made by the host, so the guest finds it in the read-only share.
  await mkdir(join(shareSource, VOLUME_SHARE_REL), { recursive: true, mode: 0o755 });
}

/**
 * The 9p shares the agent mounts, in order: the pod share first (the agent
 * takes the first as its share dir), then the volume share inside it. Pure.
 */
export function guestShares(): { tag: string; mount_point: string; msize: number; cache: string; read_only: boolean }[] {
  return [
    { tag: SHARED_MOUNT_TAG, mount_point: GUEST_SHARED_DIR, msize: 0, cache: '', read_only: false },
    { tag: VOLUME_MOUNT_TAG, mount_point: GUEST_VOLUME_DIR, msize: 0, cache: '', read_only: false },
  ];
}

/**
 * The agent's CreateSandbox request for pod `input`: hostname, DNS, the
 * shares to mount, sysctls, the host's time, whether debug processes are
 * allowed, and with `net` the pod's network (one round trip for all of it).
 * One builder for a cold start and a pool hand-out (pool.ts): the guest of a
 * pool VM must be set up exactly as a cold pod's (its NIC is hot-plugged
 * while CreateSandbox runs, so it gets its network by the separate calls). Pure but for the clock.
 */
/** Bytes of host entropy each guest's RNG is reseeded with at CreateSandbox: 512 bits. */
export const GUEST_ENTROPY_BYTES = 64;

export function createSandboxRequest(input: Pick<SandboxCreateInput, 'id' | 'hostname' | 'config'>, env: Pick<PodVmEnv, 'debugProcesses'>, net?: GuestNetwork) {
  const dns = input.config.dns_config;
  const calls = net ? guestNetworkCalls(net) : undefined;
  return {
    sandbox_id: input.id,
    hostname: input.hostname,
    dns: { nameservers: dns?.servers ?? [], searches: dns?.searches ?? [], options: dns?.options ?? [] },
    shared_mounts: guestShares(),
    sysctls: input.config.linux?.sysctls ?? {},
    guest_time_unix_nano: unixNanoNumber(),
    debug_processes: env.debugProcesses === true,
    // Every pod's guest gets fresh entropy: one restored from a template would otherwise share the template's RNG state.
    entropy: randomBytes(GUEST_ENTROPY_BYTES),
    ...(calls ? { interface: calls.iface, routes: calls.routes.routes } : {}),
  };
}

/** The agent's network set-up from the tap result: UpdateInterface's and UpdateRoutes' requests. Pure. */
export function guestNetworkCalls(net: GuestNetwork) {
  return {
    iface: { name: net.ifName, mac: net.mac.toLowerCase(), mtu: net.mtu, addresses: net.addresses.map((a) => `${a.address}/${a.prefixLen}`) },
    routes: { routes: net.routes.map((r) => ({ destination: r.dest, gateway: r.gateway ?? '', device: net.ifName, source: r.source ?? '' })) },
  };
}

/** `input.ips` may still be pending (CNI ADD): only the pod files and the tap wait for it. */
export async function startPodVm(env: PodVmEnv, input: SandboxCreateInput): Promise<PodVm> {
  const { id } = input;
  const log = input.log.child({ subsystem: 'microvm' });
  const paths = podPaths(env.state, id);
  const run = vmRunPaths(env.state, id);
  let vm: VmHandle | undefined;
  let agent: AgentClient | undefined;
  let releaseBootSlot: (() => void) | undefined;
  // A step's name is the phase an error names, but for the wait for the agent: the console tells where the boot stopped.
  const steps = new Steps(`pod VM ${id} start`, log, {
    phases: env.phases && { operation: 'pod VM start', observer: env.phases },
    errorFor: (step, err) => {
      const tail = vm?.consoleTail(64 * 1024) ?? '';
      const phase = step === 'agent-connect' ? stuckPhase(tail) : step;
      return restated(err, phaseMessage(id, phase, (err as Error).message, tail.slice(-4096)));
    },
  });
  try {
    const host = await env.host();
    const guest = host.guest;
    // The pod dir first: the later steps' files are in it, and its undo (unmount everything, delete) runs last.
    await steps.run(
      'pod-dir',
      () => makePrivatePodDir(paths.dir),
      () => removePodDir(paths.dir),
    );
    // Before the tap, which it owns.
    const uid = await qemuUidStep(steps, { podId: id, uids: env.uids, uidBase: env.microvm.qemu_uid_base, uidCount: env.microvm.qemu_uid_count });

    const size = vmSize({
      baseVcpus: env.microvm.vcpus,
      baseMemoryMib: env.microvm.memory_mib,
      resources: input.config.linux?.resources ?? null,
      hostCpus: cpus().length,
      hostMemoryMib: Math.floor(totalmem() / (1024 * 1024)),
    });
    // QEMU runs in a cgroup of the pod's, under kubelet's cgroup_parent, with the pod's CPU quota and its guest RAM plus QEMU's own as memory limit.
    const limits = vmCgroupLimits({ resources: input.config.linux?.resources, overhead: input.config.linux?.overhead, guestMemoryMib: size.memoryMib, accel: host.accel });
    // Everything before QEMU at once: none needs another, and the pod files and the tap wait for CNI ADD, which may still run.
    const ready = networked(input);
    ready.catch(() => undefined); // awaited by the steps below; a rejection is theirs to report
    const tap = input.netnsPath ? tapStep(input.netnsPath, uid, ready) : undefined;
    const [, , cgroup, , net] = await steps.all([
      {
        name: 'share-setup',
        run: async () => {
          await mountShare(paths.shareSource, paths.shared);
          await mountShare(paths.volumeSource, paths.volumes);
        },
      },
      { name: 'pod-files', run: async () => writePodFiles(paths.shareSource, await ready) },
      vmCgroupParallelStep({ podId: id, podDir: paths.dir, cgroupParent: input.config.linux?.cgroup_parent ?? '', limits }),
      { name: 'run-dir', run: () => makeVmRunDir(run), rollback: () => removeVmRunDir(env.hypervisor, run) },
      {
        name: 'network-setup',
        run: async () => (tap ? tap.run() : undefined),
        rollback: async (n: GuestNetwork | undefined) => {
          if (n && tap?.rollback) await tap.rollback(n);
        },
      },
    ] as const);

    const configFor = (endpoint: AgentEndpoint): VmConfig =>
      podVmConfig(
        {
          id,
          runDir: run.dir,
          host,
          microvm: env.microvm,
          size,
          sharedDir: paths.shared,
          volumeDir: paths.volumes,
          ...(net ? { network: { ifname: net.tapName, mac: net.mac } } : {}),
          netnsPath: input.netnsPath,
          placement: { cgroupProcs: cgroup.procsFiles, oomScoreAdj: oom.value },
          uid,
        },
        endpoint,
      );
    const oom = vmOomScoreAdj(Number(input.config.linux?.resources?.oom_score_adj ?? 0), ownOomScoreAdj());
    if (oom.raised)
      log.warn(
        { requested: input.config.linux?.resources?.oom_score_adj, applied: oom.value },
        "the pod's oom_score_adj is below the daemon's own, which cannot be lowered without CAP_SYS_RESOURCE: QEMU gets the daemon's",
      );
    log.info({ size: size.explain, accel: host.accel, transport: host.transport, guest: guest.hash, cgroup: cgroup.paths.leaf, limits, oomScoreAdj: oom.value }, 'starting pod VM');
    // TCG boots beyond one per host CPU wait for a slot (boot-gate.ts says why); held until the agent answers.
    if (host.accel === 'tcg')
      releaseBootSlot = await steps.run(
        'boot-slot',
        () => tcgBootGate.acquire(),
        async (release) => release(),
      );
    const started = await steps.run(
      'qemu-start',
      async () => {
        if (host.transport === 'serial') {
          const endpoint: AgentEndpoint = { transport: 'serial', socketPath: run.agentSocket };
          return { endpoint, vm: await env.hypervisor.start(configFor(endpoint)) };
        }
        const cids = env.cids;
        if (!cids) throw new InternalError('vsock transport chosen but no CID allocator configured');
        try {
          const r = await startWithFreeCid(
            cids,
            id,
            async (cid) => ({ cid, vm: await env.hypervisor.start(configFor({ transport: 'vsock', cid })) }),
            (cid) => log.warn({ cid }, 'vsock CID held by a VM outside vmpod; trying the next one'),
          );
          return { endpoint: { transport: 'vsock', cid: r.cid } as AgentEndpoint, vm: r.vm };
        } catch (err) {
          cids.release(id);
          throw err;
        }
      },
      async (s) => {
        await s.vm.stop({ gracefulTimeoutMs: 0, quitTimeoutMs: 2000 });
        env.cids?.release(id);
      },
    );
    vm = started.vm;
    agent = newAgentClient(env, started.endpoint, log);
    const client = agent;
    await steps.run('agent-connect', () => waitForAgent(started.vm, client, env.microvm.boot_timeout_s * 1000));
    releaseBootSlot?.();
    // The pod's network goes with CreateSandbox: one round trip to the agent instead of three.
    const sandbox = await steps.run('sandbox-setup', () => client.call('CreateSandbox', createSandboxRequest(input, env, net)));
    if (net && sandbox.network_configured !== true) {
      // An agent older than CreateSandbox's network fields (a guest image built before them) ignored them.
      await steps.run('guest-network', async () => {
        const calls = guestNetworkCalls(net);
        await client.call('UpdateInterface', calls.iface);
        await client.call('UpdateRoutes', calls.routes);
      });
    }

    const data: VmPodData = {
      v: VM_DATA_VERSION,
      podDir: paths.dir,
      vmRunDir: run.dir,
      netnsPath: input.netnsPath,
      tapName: net ? net.tapName : '',
      agent: started.endpoint,
      pid: started.vm.pid,
      vcpus: size.vcpus,
      memoryMib: size.memoryMib,
      accel: host.accel,
      consoleLog: started.vm.consoleLog,
      guestHash: guest.hash,
      startPhasesMs: { ...steps.timings },
      volumeShare: true,
      ...(uid !== undefined ? { qemuUid: uid } : {}),
    };
    steps.done({ pid: started.vm.pid });
    return new PodVm(id, data, started.vm, client, log);
  } catch (err) {
    releaseBootSlot?.();
    agent?.close();
    throw err;
  }
}
