// Handing a pool VM to a pod (pool.ts's header, steps 1-4): the VM moves
// into the pod's cgroup and gets its uid and CID, its run dir and pod dir
// are renamed to the pod's, the pod's files are written, its NIC is
// hot-plugged and the agent sets the sandbox up. A pool VM, booted or
// restored from the handler's template, and its hand-out are the same
// whichever way the VM came to be.

import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { AgentClient } from '../../agent-client';
import { InternalError, NotFoundError } from '../../../common/errors';
import { sleep } from '../../../common/time';
import { cgroupVersion } from '../../host/facts';
import { createVmCgroup, ownOomScoreAdj, removeVmCgroup, vmCgroupLimits, vmCgroupPaths, vmOomScoreAdj, type VmCgroup } from '../../host/vm-cgroup';
import { RUN_FILES, type VmHandle } from '../../hypervisor';
import type { Logger } from '../../log';
import { attachTap, createTap, DEFAULT_TAP_NAME, deleteNetns, detachTap, moveLink, readGuestNetwork, type GuestNetwork } from '../../network';
import { hostnameFile, hostsFile, resolvConf } from '../../oci/pod-files';
import { readJson, writeJsonAtomic } from '../../store/atomic';
import type { NetworkedCreateInput } from '../controller';
import type { AgentEndpoint } from './agent-connect';
import { VM_DATA_VERSION, type VmPodData } from './data';
import { podPaths, sharePath, vmRunPaths, type PodPaths, type VmRunPaths } from './layout';
import { newAgentClient, PodVm, removePodDir, type PodVmEnv, type VmHostChoice } from './pod-vm';
import { writeVmCgroupRecord } from '../vm-pod-host';
import { removeVmRunDir } from './run-dir';
import { createSandboxRequest } from './start';

/** A VM of the pool: booted (or restored) to agent-ready under a pool name, not yet any pod's. */
export interface PoolVm {
  name: string;
  paths: PodPaths;
  run: VmRunPaths;
  netnsPin: string;
  vm: VmHandle;
  endpoint: AgentEndpoint;
  uid: number | undefined;
  cgroupDirs: string[];
  vcpus: number;
  memoryMib: number;
  guestHash: string;
  bootMs: number;
}

/** The launch record of a run dir renamed from `from` to `to`: every path under `from` now under `to`, the id the pod's. Pure. */
export function renamedLaunchRecord<T extends Record<string, unknown>>(record: T, from: string, to: string, id: string): T {
  const out: Record<string, unknown> = { ...record, id };
  for (const [k, v] of Object.entries(out)) if (typeof v === 'string' && (v === from || v.startsWith(`${from}/`))) out[k] = to + v.slice(from.length);
  // The pool's netns pin goes once the tap moved out: the VM is in no pinned netns (its NIC's tap is in the pod's).
  delete out.netnsPath;
  return out as T;
}

/**
 * Hand pool VM `p` to pod `input` (steps 1-4 of pool.ts's header) and start
 * the pod on it. `before`: the start's phases before the hand-out (a pool
 * VM's: none; a VM restored for this pod: its restore). On failure the VM is
 * killed, whatever was renamed to the pod is removed and `removeLeftovers`
 * removes the rest of the pool VM; then the error is thrown.
 */
export async function adoptPoolVm(
  env: PodVmEnv,
  p: PoolVm,
  input: NetworkedCreateInput,
  host: VmHostChoice,
  log: Logger,
  before: Record<string, number>,
  removeLeftovers: (name: string) => Promise<void>,
): Promise<PodVm> {
  const { id } = input;
  const t0 = Date.now();
  const phases: Record<string, number> = {};
  const phase = async <T>(n: string, f: () => Promise<T>): Promise<T> => {
    const t = Date.now();
    try {
      return await f();
    } finally {
      phases[n] = Date.now() - t;
    }
  };
  const paths = podPaths(env.state, id);
  const run = vmRunPaths(env.state, id);
  let vm: VmHandle | undefined;
  let agent: AgentClient | undefined;
  let net: GuestNetwork | undefined;
  let podCgroup: VmCgroup | undefined;
  try {
    // 1. cgroup, OOM score, uid and CID: the pod's.
    podCgroup = await phase('vm-cgroup', async () => {
      const limits = vmCgroupLimits({ resources: input.config.linux?.resources, overhead: input.config.linux?.overhead, guestMemoryMib: p.memoryMib, accel: host.accel });
      const cg = await createVmCgroup(vmCgroupPaths(input.config.linux?.cgroup_parent ?? '', id), limits, cgroupVersion());
      for (const f of cg.procsFiles) await writeFile(f, String(p.vm.pid));
      await removeVmCgroup(p.cgroupDirs);
      const oom = vmOomScoreAdj(Number(input.config.linux?.resources?.oom_score_adj ?? 0), ownOomScoreAdj());
      await writeFile(`/proc/${p.vm.pid}/oom_score_adj`, String(oom.value));
      return cg;
    });
    if (p.uid !== undefined) env.uids?.transfer(p.name, id);
    if (p.endpoint.transport === 'vsock') env.cids?.transfer(p.name, id);
    // 2. The run dir, then the pod dir, become the pod's.
    await phase('run-dir', async () => {
      if (existsSync(run.dir) || existsSync(paths.dir)) throw new InternalError(`pod ${id} already has files (${run.dir} or ${paths.dir})`);
      await rename(p.run.dir, run.dir);
      await rm(p.run.stateLink, { force: true });
      await mkdir(dirname(run.stateLink), { recursive: true, mode: 0o700 });
      await rm(run.stateLink, { recursive: true, force: true });
      await symlink(run.dir, run.stateLink);
      const recordPath = join(run.dir, RUN_FILES.launchRecord);
      writeJsonAtomic(recordPath, renamedLaunchRecord(readJson<Record<string, unknown>>(recordPath), p.run.dir, run.dir, id));
      p.vm.detach();
      vm = await env.hypervisor.reconnect(run.dir);
      if (!vm) throw new InternalError(`the pool VM (pid ${p.vm.pid}) is gone or its QMP unreachable after the rename`);
      await mkdir(dirname(paths.dir), { recursive: true, mode: 0o700 });
      await rename(p.paths.dir, paths.dir);
      await writeVmCgroupRecord(paths.dir, podCgroup?.dirs ?? []);
    });
    const theVm = vm;
    if (!theVm) throw new InternalError('unreachable: no VM after the rename');
    // 3. The pod's files; then, at once, the NIC on the host and the sandbox in the guest (neither needs the other).
    await phase('pod-files', () => writePodFiles(paths.shareSource, input));
    agent = newAgentClient(env, p.endpoint.transport === 'serial' ? { transport: 'serial', socketPath: run.agentSocket } : p.endpoint, log, { agentMayHoldOldConnection: true });
    const client = agent;
    const netnsPath = input.netnsPath;
    const nic = phase('network-setup', async () => {
      if (!netnsPath) return undefined;
      const g = await readGuestNetwork({ netns: netnsPath, tapName: DEFAULT_TAP_NAME });
      await createTap(p.netnsPin, DEFAULT_TAP_NAME, p.uid ?? 0);
      await theVm.addDevice({ kind: 'net', id: 'net0', mac: g.mac.toLowerCase(), tap: { ifname: DEFAULT_TAP_NAME } });
      await moveLink(p.netnsPin, DEFAULT_TAP_NAME, netnsPath);
      await attachTap({ netns: netnsPath, tapName: DEFAULT_TAP_NAME, existing: g });
      return g;
    });
    // 4. The agent, over a fresh connection (the pool's was closed): the pod's sandbox, then its network.
    const sandbox = phase('sandbox-setup', () => client.call('CreateSandbox', createSandboxRequest(input, env)));
    // Both settle before anything else happens (the cleanup below must not race either).
    const [nicR, sandboxR] = await Promise.allSettled([nic, sandbox]);
    if (nicR.status === 'rejected') throw nicR.reason;
    if (sandboxR.status === 'rejected') throw sandboxR.reason;
    net = nicR.value;
    await deleteNetns(p.netnsPin);
    await rm(p.netnsPin, { force: true });
    if (net) {
      const n = net;
      await phase('guest-network', async () => {
        // The hot-plugged NIC appears in the guest once its PCI probe is done.
        const iface = { name: n.ifName, mac: n.mac.toLowerCase(), mtu: n.mtu, addresses: n.addresses.map((a) => `${a.address}/${a.prefixLen}`) };
        const until = Date.now() + 15_000;
        for (;;) {
          try {
            await client.call('UpdateInterface', iface);
            break;
          } catch (err) {
            if (!(err instanceof NotFoundError) && !/no guest NIC has this MAC/.test((err as Error).message)) throw err;
            if (Date.now() > until) throw err;
            await sleep(100);
          }
        }
        await client.call('UpdateRoutes', { routes: n.routes.map((r) => ({ destination: r.dest, gateway: r.gateway ?? '', device: n.ifName, source: r.source ?? '' })) });
      });
    }
    const data: VmPodData = {
      v: VM_DATA_VERSION,
      podDir: paths.dir,
      vmRunDir: run.dir,
      netnsPath: input.netnsPath,
      tapName: net ? net.tapName : '',
      agent: p.endpoint.transport === 'serial' ? { transport: 'serial', socketPath: run.agentSocket } : p.endpoint,
      pid: theVm.pid,
      vcpus: p.vcpus,
      memoryMib: p.memoryMib,
      accel: host.accel,
      consoleLog: theVm.consoleLog,
      guestHash: p.guestHash,
      startPhasesMs: { ...before, ...phases, total: Object.values(before).reduce((a, b) => a + b, 0) + Date.now() - t0 },
      volumeShare: true,
      ...(p.uid !== undefined ? { qemuUid: p.uid } : {}),
    };
    log.info({ pid: theVm.pid, phasesMs: data.startPhasesMs }, 'VM pool: pod started on a pool VM');
    return new PodVm(id, data, theVm, client, log);
  } catch (err) {
    agent?.close();
    const v: VmHandle = vm ?? p.vm;
    await v.stop({ gracefulTimeoutMs: 0, quitTimeoutMs: 2000 }).catch(() => undefined);
    if (input.netnsPath) await detachTap({ netns: input.netnsPath, tapName: DEFAULT_TAP_NAME }).catch(() => undefined);
    // Whatever was renamed is the pod's now, the rest still the pool VM's.
    await removeVmRunDir(env.hypervisor, run).catch(() => undefined);
    if (podCgroup) await removeVmCgroup(podCgroup.dirs).catch(() => undefined);
    if (existsSync(paths.dir)) await removePodDir(paths.dir).catch(() => undefined);
    env.uids?.release(id);
    env.cids?.release(id);
    await removeLeftovers(p.name).catch(() => undefined);
    throw err;
  }
}

async function writePodFiles(shareSource: string, input: NetworkedCreateInput): Promise<void> {
  const resolv = resolvConf(input.config.dns_config ?? null) ?? (await readFile('/etc/resolv.conf', 'utf8').catch(() => ''));
  await writeFile(join(shareSource, sharePath.podFile('hostname')), hostnameFile(input.hostname), { mode: 0o644 });
  await writeFile(join(shareSource, sharePath.podFile('hosts')), hostsFile(input.hostname, input.ips), { mode: 0o644 });
  await writeFile(join(shareSource, sharePath.podFile('resolv.conf')), resolv, { mode: 0o644 });
}
