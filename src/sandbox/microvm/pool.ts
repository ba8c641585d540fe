// A pool of pre-booted pod VMs (`pool_size` of a microvm handler): VMs booted
// to agent-ready before any pod asks, each handed whole to one pod, which
// then starts without the guest's boot. A pool VM shares nothing with
// another: it booted on its own (its own kernel RNG seed, its own RAM).
// With `template` a pool VM is restored from the handler's template instead
// (template.ts; its RAM copy-on-write from the template's), and without a
// pool each pod's VM is restored when the pod starts; the hand-out is the
// same either way.
//
// A pool VM is built as a pod VM is (start.ts), under a pool name instead of
// a pod id, with what a pod's VM has that does not depend on the pod:
//
//   <state>/microvm-pool/<handler>/sandboxes/<name>/   its pod dir (layout.ts)
//   <state>/microvm-pool/<handler>/netns/<name>        its own empty netns
//   VM_RUN_BASE/<hash(pool root, name)>                its run dir
//   cgroup /vmpod/<name>, QEMU uid and vsock CID owned by <name>
//
// QEMU runs in the empty netns: it reaches nothing (not even the pod's
// network) until it is handed out. Handing it to pod `id` (adoptPoolVm, pool-hand-out.ts):
//   1. QEMU moves into the pod's cgroup (limits of the pod), gets its OOM
//      score; the uid and CID change owner;
//   2. the run dir is renamed to the pod's and the launch record rewritten,
//      the daemon reconnects to QMP; then the pod dir is renamed to the
//      pod's: QEMU's 9p exports are open directory fds, its sockets
//      listening sockets, and the jail's binds are of inodes, so none
//      notices the renames;
//   3. the pod files are written into the share; the NIC is hot-plugged
//      with the pod's MAC (eth0's): a tap made in the pool netns, opened by
//      QEMU by name (netdev_add), then moved into the pod's netns, where
//      the redirects to eth0 are made as for a cold pod (network/tap.ts);
//   4. the agent gets CreateSandbox (hostname, DNS, shares to mount, time)
//      and the network, as for a cold pod.
// A VM is taken from the pool synchronously (shift), so no two pods can get
// the same one. Anything that fails while adopting removes the VM and what
// was renamed to the pod; the pod then starts cold.
//
// Nothing leaks: close() (daemon stop) kills the pool's VMs; a daemon that
// was killed leaves them recorded by their launch records, and the next
// daemon's pool start kills them by recorded PID before booting new ones.
// The pool does not outlive a guest image: the handler resolves its image
// once per daemon, as cold pods do (a rebuilt image is used from the next
// daemon start, whose pool start kills the old pool and boots from the new
// image), and a VM booted from another image than the one the handler
// resolves now is discarded at hand-out.

import { randomBytes } from 'node:crypto';
import { closeSync, existsSync } from 'node:fs';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { AgentUnavailableError, type AgentClient } from '../../agent-client';
import { DeadlineExceededError, InternalError } from '../../../common/errors';
import { sleep } from '../../../common/time';
import { cgroupVersion } from '../../host/facts';
import { cgroupDirsOf, createVmCgroup, ownOomScoreAdj, removeVmCgroup, vmCgroupLayout, vmCgroupLimits, vmCgroupPaths, vmOomScoreAdj } from '../../host/vm-cgroup';
import { startWithFreeCid, type VmConfig, type VmHandle } from '../../hypervisor';
import type { Logger } from '../../log';
import { createNetns, deleteNetns, releasePinDir } from '../../network';
import { networked, type NetworkedCreateInput, type SandboxCreateInput } from '../controller';
import type { AgentEndpoint } from './agent-connect';
import { podPaths, VOLUME_SHARE_REL, vmRunPaths } from './layout';
import { newAgentClient, PodVm, removePodDir, type PodVmEnv, type VmHostChoice } from './pod-vm';
import { readVmCgroupRecord, writeVmCgroupRecord } from '../vm-pod-host';
import { makeVmRunDir, removeVmRunDir } from './run-dir';
import { adoptPoolVm, type PoolVm } from './pool-hand-out';
import { mountShare } from './share';
import { createTemplateMemory, sealTemplateMemory, templateBootConfig, VmTemplate, type TemplateVmConfig } from './template';
import { vmSize } from './sizing';
import { podVmConfig } from './vm-launch-config';

/** How long after a failed template build the handler's VMs boot without trying again. */
const TEMPLATE_RETRY_MS = 5 * 60_000;

/** Owner names of pool VMs (allocators, cgroups, run dirs): never a pod id kubelet makes (64 hex digits). */
export const POOL_NAME_PREFIX = 'vmpool-';

/** The pool's root for one handler. Pure. */
export function poolRoot(state: string, handler: string): string {
  return join(state, 'microvm-pool', handler.replace(/[^A-Za-z0-9_.-]/g, '_'));
}

/** Whether a pod of this size can take a pool VM of that size. Pure. */
export function fitsPoolVm(pod: { vcpus: number; memoryMib: number }, vm: { vcpus: number; memoryMib: number }): boolean {
  return pod.vcpus === vm.vcpus && pod.memoryMib === vm.memoryMib;
}

/** Ask the agent until it answers, the VM dies, or the deadline passes. */
async function waitForAgent(vm: VmHandle, agent: AgentClient, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void vm.wait().then(() => (exited = true));
  for (;;) {
    if (exited) throw new InternalError('the pool VM ended before its agent answered');
    const remaining = deadline - Date.now();
    if (remaining <= 0) throw new DeadlineExceededError(`the pool VM's agent did not answer within ${Math.round(timeoutMs / 1000)} s`);
    const r = await agent.health({ timeoutMs: Math.min(remaining, 3000) }).then(
      () => 'ok' as const,
      (err: unknown) => err as Error,
    );
    if (r === 'ok') return;
    if (r instanceof AgentUnavailableError) await sleep(250);
  }
}

export class VmPool {
  private readonly root: string;
  private readonly ready: Promise<PoolVm | undefined>[] = [];
  private closed = false;
  private started: Promise<void> | undefined;
  private lastFailure = 0;
  /** VMs launched and not yet at agent-ready. */
  private readonly booting = new Set<VmHandle>();
  /** The handler's template (template.ts), built by the first VM start that needs it. */
  private template: Promise<VmTemplate> | undefined;
  /** When building the template last failed: each try costs a boot, so VMs boot without one for a while. */
  private templateFailedAt = 0;

  constructor(
    private readonly env: PodVmEnv,
    handler: string,
    private readonly size: number,
    private readonly log: Logger,
  ) {
    this.root = poolRoot(env.state, handler);
  }

  /** The VM size of a pod with these resources (sizing.ts); the pool's VMs have the size of a pod without any. */
  private vmSize(resources: Parameters<typeof vmSize>[0]['resources']): { vcpus: number; memoryMib: number } {
    const s = vmSize({ baseVcpus: this.env.microvm.vcpus, baseMemoryMib: this.env.microvm.memory_mib, resources, hostCpus: cpus().length, hostMemoryMib: Math.floor(totalmem() / (1024 * 1024)) });
    return { vcpus: s.vcpus, memoryMib: s.memoryMib };
  }

  /** Remove what a killed daemon's pool left, then boot the pool. Idempotent. */
  start(): Promise<void> {
    this.started ??= this.recover().then(
      () => {
        this.fill();
        // Without a pool, a template handler's first pod would otherwise wait for the template's boot.
        if (this.size === 0 && this.env.microvm.template === true) void this.vmSource();
      },
      (err: unknown) => this.log.error({ err: (err as Error).message }, 'VM pool: removing the previous pool failed; the pool stays empty'),
    );
    return this.started;
  }

  /** Boot VMs until the pool holds `size` (booting or ready). */
  private fill(): void {
    // A pool whose boots fail (no guest image yet, say) does not retry in a loop: the next hand-out asks again.
    if (this.closed || Date.now() - this.lastFailure < 30_000) return;
    while (this.ready.length < this.size) {
      const p = this.boot().catch((err: unknown) => {
        this.lastFailure = Date.now();
        this.log.warn({ err: (err as Error).message }, 'VM pool: a pool VM failed to boot');
        const i = this.ready.indexOf(p);
        if (i >= 0) void this.ready.splice(i, 1);
        return undefined;
      });
      this.ready.push(p);
    }
  }

  /** The VM config a pool VM adds to a pod VM's: a restore from the template, when the handler has one and it can be built. */
  private async vmSource(): Promise<TemplateVmConfig> {
    if (this.env.microvm.template !== true || Date.now() - this.templateFailedAt < TEMPLATE_RETRY_MS) return {};
    try {
      this.template ??= this.buildTemplate().catch((err: unknown) => {
        this.template = undefined;
        this.templateFailedAt = Date.now();
        throw err;
      });
      return (await this.template).restoreConfig();
    } catch (err) {
      this.log.warn({ err: (err as Error).message, retryInS: TEMPLATE_RETRY_MS / 1000 }, 'VM template: could not be built; VMs boot instead until the next try');
      return {};
    }
  }

  /** Boot the template VM to agent-ready, save it, let it go, and seal its RAM (template.ts). */
  private async buildTemplate(): Promise<VmTemplate> {
    const size = this.vmSize(null);
    const fd = createTemplateMemory(size.memoryMib);
    try {
      const p = await this.boot(templateBootConfig(fd));
      const stateFile = join(this.root, 'template', `${p.name}.state`);
      try {
        await mkdir(dirname(stateFile), { recursive: true, mode: 0o700 });
        if (!p.vm.saveState) throw new InternalError(`the ${this.env.hypervisor.name} hypervisor cannot save a VM's state`);
        await p.vm.saveState(stateFile);
      } finally {
        // Its QEMU must be gone before the seal: the kernel refuses it while a shared writable mapping exists.
        await this.destroy(p);
      }
      await sealTemplateMemory(fd);
      const t = new VmTemplate(fd, stateFile);
      this.log.info({ bootMs: p.bootMs, guest: p.guestHash, memoryMib: size.memoryMib }, 'VM template: built; VMs of this handler are restored from it');
      return t;
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  private async boot(source?: TemplateVmConfig): Promise<PoolVm> {
    const env = this.env;
    const name = `${POOL_NAME_PREFIX}${randomBytes(8).toString('hex')}`;
    const log = this.log.child({ poolVm: name });
    const t0 = Date.now();
    const host = await env.host();
    const guest = host.guest;
    const size = this.vmSize(null);
    const paths = podPaths(this.root, name);
    const run = vmRunPaths(this.root, name);
    const netnsPin = join(this.root, 'netns', name);
    const undo: (() => Promise<unknown>)[] = [];
    const undoAll = async (): Promise<void> => {
      for (const u of undo.reverse()) await u().catch((err: unknown) => log.warn({ err: (err as Error).message }, 'VM pool: cleanup step failed'));
    };
    try {
      const from = source ?? (await this.vmSource());
      undo.push(() => removePodDir(paths.dir));
      await mkdir(join(paths.shareSource, 'pod'), { recursive: true, mode: 0o755 });
      await mkdir(join(paths.shareSource, 'c'), { recursive: true, mode: 0o755 });
      await mkdir(join(paths.shareSource, VOLUME_SHARE_REL), { recursive: true, mode: 0o755 });
      await mountShare(paths.shareSource, paths.shared);
      await mountShare(paths.volumeSource, paths.volumes);
      const uid = env.uids?.allocate(name, env.microvm.qemu_uid_base, env.microvm.qemu_uid_count);
      undo.push(async () => env.uids?.release(name));
      await mkdir(dirname(netnsPin), { recursive: true, mode: 0o700 });
      await createNetns(netnsPin);
      undo.push(() => deleteNetns(netnsPin));
      const limits = vmCgroupLimits({ guestMemoryMib: size.memoryMib, accel: host.accel });
      const cg = await createVmCgroup(vmCgroupPaths('', name), limits, cgroupVersion());
      undo.push(() => removeVmCgroup(cg.dirs));
      await writeVmCgroupRecord(paths.dir, cg.dirs);
      await lowCpuWeight(cg.paths.pod);
      await makeVmRunDir(run);
      undo.push(() => removeVmRunDir(env.hypervisor, run));
      // As a cold pod VM of this handler, without a NIC (hot-plugged at hand-out).
      const podConfigFor = (endpoint: AgentEndpoint): VmConfig =>
        podVmConfig(
          {
            id: name,
            runDir: run.dir,
            host,
            microvm: env.microvm,
            size,
            sharedDir: paths.shared,
            volumeDir: paths.volumes,
            netnsPath: netnsPin,
            placement: { cgroupProcs: cg.procsFiles, oomScoreAdj: vmOomScoreAdj(0, ownOomScoreAdj()).value },
            uid,
          },
          endpoint,
        );
      const configFor = (endpoint: AgentEndpoint): VmConfig => ({ ...podConfigFor(endpoint), ...from });
      let started: { endpoint: AgentEndpoint; vm: VmHandle };
      if (host.transport === 'serial') {
        const endpoint: AgentEndpoint = { transport: 'serial', socketPath: run.agentSocket };
        started = { endpoint, vm: await env.hypervisor.start(configFor(endpoint)) };
      } else {
        const cids = env.cids;
        if (!cids) throw new InternalError('vsock transport chosen but no CID allocator configured');
        undo.push(async () => cids.release(name));
        const r = await startWithFreeCid(cids, name, async (cid) => ({ cid, vm: await env.hypervisor.start(configFor({ transport: 'vsock', cid })) }));
        started = { endpoint: { transport: 'vsock', cid: r.cid }, vm: r.vm };
      }
      const vm = started.vm;
      undo.push(() => vm.stop({ gracefulTimeoutMs: 0, quitTimeoutMs: 2000 }));
      // close() kills a VM still booting at once rather than waiting for its agent.
      this.booting.add(vm);
      undo.push(async () => this.booting.delete(vm));
      if (this.closed) throw new InternalError('the pool was closed while the VM started');
      const restored = from.restoreFrom !== undefined;
      // A restored agent still had the template's connection open when it was saved.
      const agent = newAgentClient(env, started.endpoint, log, { agentMayHoldOldConnection: restored });
      try {
        await waitForAgent(vm, agent, env.microvm.boot_timeout_s * 1000);
      } finally {
        agent.close();
      }
      this.booting.delete(vm);
      const pvm: PoolVm = {
        name,
        paths,
        run,
        netnsPin,
        vm,
        endpoint: started.endpoint,
        uid,
        cgroupDirs: cg.dirs,
        vcpus: size.vcpus,
        memoryMib: size.memoryMib,
        guestHash: guest.hash,
        bootMs: Date.now() - t0,
      };
      if (this.closed) {
        await this.destroy(pvm);
        throw new InternalError('the pool was closed while the VM booted');
      }
      log.info({ pid: vm.pid, bootMs: pvm.bootMs, guest: guest.hash, restored }, restored ? 'VM pool: pool VM restored from the template' : 'VM pool: pool VM ready');
      return pvm;
    } catch (err) {
      await undoAll();
      throw err;
    }
  }

  /** Kill a pool VM that no pod got and remove everything of it. */
  private async destroy(p: PoolVm): Promise<void> {
    await p.vm.stop({ gracefulTimeoutMs: 0, quitTimeoutMs: 2000 }).catch(() => undefined);
    await this.removeLeftovers(p.name);
  }

  /** Everything a pool VM of this name may have left, whatever state it was in (pid-checked kill from its launch record). Idempotent. */
  private async removeLeftovers(name: string): Promise<void> {
    const paths = podPaths(this.root, name);
    await removeVmRunDir(this.env.hypervisor, vmRunPaths(this.root, name));
    await removeVmCgroup(await readVmCgroupRecord(paths.dir));
    // A daemon killed before the record was written: the dirs follow from the name.
    await removeVmCgroup(vmCgroupLayout(vmCgroupPaths('', name), cgroupVersion()).dirs);
    if (existsSync(paths.dir)) await removePodDir(paths.dir);
    await deleteNetns(join(this.root, 'netns', name));
    await rm(join(this.root, 'netns', name), { force: true });
    this.env.uids?.release(name);
    this.env.cids?.release(name);
  }

  /** What a killed daemon's pool left: VMs killed by recorded PID, files, cgroups, netns pins, uids and CIDs. */
  private async recover(): Promise<void> {
    const names = new Set<string>();
    for (const n of await readdir(join(this.root, 'sandboxes')).catch(() => [] as string[])) names.add(n);
    for (const n of await readdir(join(this.root, 'vm')).catch(() => [] as string[])) names.add(n);
    for (const n of await readdir(join(this.root, 'netns')).catch(() => [] as string[])) names.add(n);
    for (const name of names) {
      if (!name.startsWith(POOL_NAME_PREFIX)) continue;
      this.log.info({ poolVm: name }, 'VM pool: removing a pool VM a previous daemon left');
      // One that cannot be removed must not keep the others (maybe still running QEMUs) from being removed.
      await this.removeLeftovers(name).catch((err: unknown) => this.log.warn({ poolVm: name, err: (err as Error).message }, 'VM pool: removing a pool VM a previous daemon left failed'));
    }
    // A killed daemon's template: its memfd died with it, its state file is of no use without it.
    await rm(join(this.root, 'template'), { recursive: true, force: true });
    // Owners whose files were never made (a daemon killed right after allocating).
    for (const owner of new Set([...(this.env.uids?.allocated().values() ?? []), ...(this.env.cids?.allocated().values() ?? [])])) {
      if (owner.startsWith(POOL_NAME_PREFIX) && !names.has(owner) && !existsSync(podPaths(this.root, owner).dir)) {
        // Another handler's pool names its VMs alike: only ours have files here; an owner with none anywhere is released by whichever pool starts.
        if (!(await this.ownedElsewhere(owner))) {
          this.env.uids?.release(owner);
          this.env.cids?.release(owner);
        }
      }
    }
  }

  private async ownedElsewhere(owner: string): Promise<boolean> {
    const base = dirname(this.root);
    for (const h of await readdir(base).catch(() => [] as string[])) if (existsSync(join(base, h, 'sandboxes', owner))) return true;
    return false;
  }

  /** Resolves once no pool VM is booting and the template, if any, is built (benches and tests wait for a full pool with it). */
  async settled(): Promise<void> {
    await this.start();
    await Promise.all(this.ready);
    await this.template?.catch(() => undefined);
  }

  /** Daemon stop: every pool VM is killed and removed (a pool VM belongs to no pod a later daemon would reattach). */
  async close(): Promise<void> {
    this.closed = true;
    for (const vm of this.booting) void vm.stop({ gracefulTimeoutMs: 0, quitTimeoutMs: 2000 }).catch(() => undefined);
    const all = this.ready.splice(0);
    // Settled, not all: one VM that cannot be removed must not stop the others' removal nor the daemon's shutdown.
    const results = await Promise.allSettled(
      all.map(async (p) => {
        const v = await p;
        if (v) await this.destroy(v);
      }),
    );
    for (const r of results) if (r.status === 'rejected') this.log.warn({ err: (r.reason as Error).message }, 'VM pool: removing a pool VM at close failed');
    // A template still being built ends with its VM (stopped above); a built one lets go of its RAM and state.
    const template = this.template;
    this.template = undefined;
    if (template) await template.then((t) => t.close()).catch(() => undefined);
    // The pins' shared bind mount is the pool's, not the daemon's: it goes with the pool.
    await releasePinDir(join(this.root, 'netns')).catch((err: Error) => this.log.warn({ err: err.message }, "VM pool: unmounting the pool's netns pin dir at close failed"));
  }

  /**
   * A pool VM for pod `input` and the pod started on it, or undefined (the
   * pod starts cold): no pool, the pod is not of the pool VMs' size, none
   * left, or the VM is of another guest image or gone. Throws when the
   * hand-out failed; everything of that VM is gone by then, and the caller
   * starts the pod cold. A VM still booting is waited for: it is ahead of a
   * cold boot started now.
   */
  async startPod(created: SandboxCreateInput): Promise<PodVm | undefined> {
    const onDemand = this.size === 0 && this.env.microvm.template === true;
    if (this.closed || (this.size === 0 && !onDemand)) return undefined;
    await this.start();
    const size = this.vmSize(created.config.linux?.resources ?? null);
    const poolSize = this.vmSize(null);
    // A pod of another size does not take (and so use up) a pool VM.
    if (!fitsPoolVm(size, poolSize)) return undefined;
    if (onDemand) return this.restoreFor(created, size);
    if (this.ready.length === 0) {
      this.fill();
      return undefined;
    }
    // The hand-out wires the NIC to the CNI veth: CNI ADD must be done. Awaited before a VM leaves the pool, so a failed ADD leaves it there.
    const input = await networked(created);
    const next = this.ready.shift();
    if (!next) {
      this.fill();
      return undefined;
    }
    // The replacement boots once this pod is started: a TCG boot beside the hand-out would slow it down.
    try {
      return await this.handOut(await next, input, size);
    } finally {
      this.fill();
    }
  }

  /** A template handler without a pool: the pod's VM is restored from the template now, then handed out as a pool VM is. */
  private async restoreFor(created: SandboxCreateInput, size: { vcpus: number; memoryMib: number }): Promise<PodVm | undefined> {
    // Restored beside CNI ADD: neither needs the other until the hand-out.
    const [vm, input] = await Promise.allSettled([this.boot(), networked(created)]);
    if (input.status === 'rejected') {
      if (vm.status === 'fulfilled') await this.destroy(vm.value).catch(() => undefined);
      throw input.reason;
    }
    if (vm.status === 'rejected') {
      input.value.log.warn({ err: (vm.reason as Error).message }, 'VM template: restoring a VM for the pod failed; the pod starts cold');
      return undefined;
    }
    // Its restore is part of this pod's start: the first phase.
    return this.handOut(vm.value, input.value, size, { restore: vm.value.bootMs });
  }

  private async handOut(p: PoolVm | undefined, input: NetworkedCreateInput, size: { vcpus: number; memoryMib: number }, before: Record<string, number> = { 'pool-vm': 0 }): Promise<PodVm | undefined> {
    const env = this.env;
    if (!p) return undefined;
    const log = input.log.child({ subsystem: 'microvm', poolVm: p.name });
    // The VM is out of the pool from here: whatever fails before the hand-out must remove it, or nothing would.
    let host: VmHostChoice;
    let usable: boolean;
    try {
      host = await env.host();
      // Only a running VM: a paused or shutting-down guest would cost the pod a full agent timeout.
      usable = p.guestHash === host.guest.hash && fitsPoolVm(size, p) && (await p.vm.status()) === 'running';
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'VM pool: could not check the pool VM; removing it, the pod starts cold');
      await this.destroy(p).catch((e: unknown) => log.warn({ err: (e as Error).message }, 'VM pool: removing the pool VM failed'));
      return undefined;
    }
    if (!usable) {
      log.info({ poolGuest: p.guestHash, guest: host.guest.hash, size, vmSize: { vcpus: p.vcpus, memoryMib: p.memoryMib } }, 'VM pool: this pool VM does not fit the pod; starting cold');
      await this.destroy(p).catch((e: unknown) => log.warn({ err: (e as Error).message }, 'VM pool: removing the pool VM failed'));
      return undefined;
    }
    try {
      return await adoptPoolVm(env, p, input, host, log, before, (name) => this.removeLeftovers(name));
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'VM pool: handing the pool VM to the pod failed; removing it, the pod starts cold');
      throw err;
    }
  }
}

/**
 * A pool VM boots in the background: the least CPU weight, so that it takes
 * only what pods (the one just handed a VM, starting its containers, above
 * all) leave over. The pod's cgroup it moves into at hand-out has the
 * default weight. Best effort: a hierarchy without the file is skipped.
 */
export const POOL_CPU_WEIGHT = { v2: '1', v1Shares: '2' } as const;

async function lowCpuWeight(podCgroup: string): Promise<void> {
  const v = cgroupVersion();
  for (const d of cgroupDirsOf(podCgroup, v)) {
    const [file, value] = v === 2 ? ['cpu.weight', POOL_CPU_WEIGHT.v2] : ['cpu.shares', POOL_CPU_WEIGHT.v1Shares];
    if (existsSync(join(d, file))) await writeFile(join(d, file), value).catch(() => undefined);
  }
}
