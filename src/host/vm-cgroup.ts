// Where a pod VM's process runs on the host: a cgroup of the pod's, under
// the cgroup_parent kubelet gave (the pod's cgroup, whose limits kubelet
// sets), with the VM's own limits, and the OOM score kubelet expects of a
// pod. Without it QEMU sat in the daemon's cgroup with the daemon's
// OOMScoreAdjust=-999: a pod limited to 0.1 CPU got whole host CPUs, and
// its memory was invisible to kubelet's eviction (issue 15).
//
//   <parent or /vmpod>/vmpod-<pod id>/        cpu and memory limits
//   <parent or /vmpod>/vmpod-<pod id>/vmm/    QEMU (a leaf: on cgroup v2 a
//                                             cgroup with children holds no
//                                             process, so a helper of the
//                                             VM can get a leaf beside it)
//
// On cgroup v1 the path is made in the cpu, cpuacct, memory and pids
// hierarchies (cpuset would need cpus and mems copied; devices and the
// others add nothing for QEMU). The path is derived from the sandbox config
// and the pod id; the dirs made are also kept in a file in the pod's
// host-only dir, so that removal finds them with the id alone.
//
// The path helpers and the derivations are pure; create/remove touch /sys.

import { readFileSync } from 'node:fs';
import { readFile, rmdir, writeFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { InternalError, InvalidArgumentError } from '../../common/errors';
import { sleep } from '../../common/time';
import { makeDirs } from './make-dirs';

export const CGROUP_ROOT = '/sys/fs/cgroup';
/** The parent when the sandbox config names none (crictl, critest); the runc path uses /vmpod/<id> likewise. */
export const DEFAULT_VM_CGROUP_PARENT = '/vmpod';
/** The hierarchies QEMU joins on cgroup v1. */
export const V1_CONTROLLERS = ['cpu', 'cpuacct', 'memory', 'pids'] as const;
/** CFS default period, used when a quota comes without one. */
export const DEFAULT_CPU_PERIOD_US = 100_000;
/**
 * What QEMU itself takes beyond guest RAM, per accelerator. Measured here
 * (test/e2e/vm-qemu-confinement prints it): a paused QEMU holds about 18 MiB
 * of anonymous memory and 23 MiB of file pages; a TCG VM pod of 576 MiB
 * booted with one container and two execs peaked at 418 MiB in its cgroup,
 * QEMU's anonymous memory 416 MiB of which the guest counted 54 MiB in use.
 * Most of the rest is TCG's translation cache, which QEMU 7.2 lets grow to
 * min(1 GiB, host RAM / 8) before it flushes it: the tcg figure leaves room
 * for all of it plus 128 MiB. kvm has no translation cache; its figure (not
 * measurable on these hosts, whose nested KVM cannot boot the guest) is
 * QEMU's own plus the 9p server's buffers, virtio rings and page tables,
 * with the margin Kata's default RuntimeClass overhead (160 MiB) gives.
 */
export const VMM_OVERHEAD_MIB = { kvm: 192, tcg: 1152 } as const;
/**
 * oom_score_adj of a VM whose sandbox config asks for none: in kubelet's
 * burstable range (2..999), the middle of it. kubelet sets a value per
 * container; QEMU holds them all, so one figure stands for the pod.
 */
export const DEFAULT_VM_OOM_SCORE_ADJ = 500;

const MIB = 1024 * 1024;

export interface VmCgroupPaths {
  /** The VM's pod-level cgroup, where the limits are. */
  pod: string;
  /** The leaf QEMU runs in. */
  leaf: string;
}

export interface VmCgroupLimits {
  /** CFS quota over period; absent: no quota (the pod has no CPU limit). */
  cpu?: { quotaUs: number; periodUs: number };
  memoryBytes: number;
}

/** Only what a limit derivation reads of a LinuxContainerResources. */
export interface ResourceFigures {
  cpu_quota?: string | number;
  cpu_period?: string | number;
  memory_limit_in_bytes?: string | number;
  oom_score_adj?: string | number;
}

function int(v: string | number | undefined): number {
  const n = Number(v ?? 0);
  return Number.isFinite(n) ? Math.trunc(n) : 0;
}

/** The VM's cgroups for a sandbox config's cgroup_parent ('' when none). Pure. */
export function vmCgroupPaths(cgroupParent: string, podId: string): VmCgroupPaths {
  const parent = cgroupParent || DEFAULT_VM_CGROUP_PARENT;
  // kubelet's cgroupfs driver sends /kubepods/...; the systemd driver's
  // "x.slice" names are not supported by this runtime (config: cgroupfs).
  if (parent.split('/').some((c) => c === '..' || c === '.')) throw new InvalidArgumentError('linux.cgroup_parent', `${parent} has a . or .. component`);
  if (!/^[0-9a-zA-Z_-]+$/.test(podId)) throw new InvalidArgumentError('pod sandbox id', `${podId} is not a valid cgroup name`);
  const pod = posix.join('/', parent, `vmpod-${podId}`);
  return { pod, leaf: `${pod}/vmm` };
}

/**
 * The VM's limits. CPU: the pod's quota (the sum of its containers' limits
 * kubelet sends in linux.resources) plus the RuntimeClass overhead's, over
 * the pod's period; none when the pod has no CPU limit. Memory: the guest's
 * RAM plus what QEMU itself takes (VMM_OVERHEAD_MIB). Pure.
 */
export function vmCgroupLimits(i: { resources?: ResourceFigures | null; overhead?: ResourceFigures | null; guestMemoryMib: number; accel: 'kvm' | 'tcg' }): VmCgroupLimits {
  const out: VmCgroupLimits = { memoryBytes: (i.guestMemoryMib + VMM_OVERHEAD_MIB[i.accel]) * MIB };
  const quota = int(i.resources?.cpu_quota);
  if (quota > 0) {
    const periodUs = int(i.resources?.cpu_period) > 0 ? int(i.resources?.cpu_period) : DEFAULT_CPU_PERIOD_US;
    const oq = int(i.overhead?.cpu_quota);
    const op = int(i.overhead?.cpu_period) > 0 ? int(i.overhead?.cpu_period) : DEFAULT_CPU_PERIOD_US;
    // The overhead's quota, rescaled to the pod's period.
    const extra = oq > 0 ? Math.ceil((oq * periodUs) / op) : 0;
    // The kernel refuses a quota under 1 ms.
    out.cpu = { quotaUs: Math.max(1000, quota + extra), periodUs };
  }
  return out;
}

/**
 * The oom_score_adj for QEMU: the sandbox config's if it names one, else
 * DEFAULT_VM_OOM_SCORE_ADJ, never below the daemon's own (lowering needs
 * CAP_SYS_RESOURCE), at most 1000. `raised` says when the wish was below
 * the daemon's, for the log. Pure.
 */
export function vmOomScoreAdj(requested: number | undefined, daemon: number): { value: number; raised: boolean } {
  const want = requested !== undefined && requested !== 0 ? requested : DEFAULT_VM_OOM_SCORE_ADJ;
  if (want < daemon) return { value: daemon, raised: true };
  return { value: Math.min(want, 1000), raised: false };
}

/** The directories holding cgroup `path`, one per hierarchy. Pure. */
export function cgroupDirsOf(path: string, version: 1 | 2, root = CGROUP_ROOT): string[] {
  return version === 2 ? [join(root, path)] : V1_CONTROLLERS.map((c) => join(root, c, path));
}

/** [file, value] writes that set `limits` on the pod-level cgroup `podPath`. Pure. */
export function limitWrites(podPath: string, limits: VmCgroupLimits, version: 1 | 2, root = CGROUP_ROOT): Array<[string, string]> {
  if (version === 2) {
    const dir = join(root, podPath);
    const w: Array<[string, string]> = [];
    if (limits.cpu) w.push([join(dir, 'cpu.max'), `${limits.cpu.quotaUs} ${limits.cpu.periodUs}`]);
    w.push([join(dir, 'memory.max'), String(limits.memoryBytes)]);
    return w;
  }
  const w: Array<[string, string]> = [];
  if (limits.cpu) {
    // The period first: a quota is checked against the period in place.
    w.push([join(root, 'cpu', podPath, 'cpu.cfs_period_us'), String(limits.cpu.periodUs)]);
    w.push([join(root, 'cpu', podPath, 'cpu.cfs_quota_us'), String(limits.cpu.quotaUs)]);
  }
  w.push([join(root, 'memory', podPath, 'memory.limit_in_bytes'), String(limits.memoryBytes)]);
  return w;
}

/** What a VM's cgroup consists of on this host: dirs deepest first (the order to remove them), and the files QEMU joins. */
export interface VmCgroup {
  paths: VmCgroupPaths;
  /** Leaf and pod dirs in every hierarchy, leaves first. */
  dirs: string[];
  /** The leaf's cgroup.procs in every hierarchy: writing 0 there moves the writer. */
  procsFiles: string[];
}

/** Pure: the dirs and files of a VM's cgroup. */
export function vmCgroupLayout(paths: VmCgroupPaths, version: 1 | 2, root = CGROUP_ROOT): VmCgroup {
  const leaves = cgroupDirsOf(paths.leaf, version, root);
  return { paths, dirs: [...leaves, ...cgroupDirsOf(paths.pod, version, root)], procsFiles: leaves.map((d) => join(d, 'cgroup.procs')) };
}

async function enableV2Controllers(podPath: string, root: string): Promise<void> {
  // Each ancestor must hand cpu and memory down for the pod dir to have
  // cpu.max and memory.max. kubelet's parent does already; /vmpod is ours.
  // The root and kubelet's dirs hold no process of their own, so the write
  // is allowed; one that fails leaves the check below to report.
  const parts = podPath.split('/').filter(Boolean);
  for (let i = 0; i < parts.length; i++) {
    const dir = join(root, ...parts.slice(0, i));
    const have = await readFile(join(dir, 'cgroup.subtree_control'), 'utf8').catch(() => '');
    const missing = ['cpu', 'memory', 'pids'].filter((c) => !have.split(/\s+/).includes(c));
    if (missing.length > 0) await writeFile(join(dir, 'cgroup.subtree_control'), missing.map((c) => `+${c}`).join(' ')).catch(() => undefined);
  }
}

/**
 * Make the VM's cgroup and set its limits. A failure removes what was made
 * (nothing leaks) and names the file.
 */
export async function createVmCgroup(paths: VmCgroupPaths, limits: VmCgroupLimits, version: 1 | 2, root = CGROUP_ROOT): Promise<VmCgroup> {
  const cg = vmCgroupLayout(paths, version, root);
  try {
    for (const d of cg.dirs.slice().reverse()) await makeDirs(d, 0o755);
    if (version === 2) await enableV2Controllers(paths.pod, root);
    for (const [file, value] of limitWrites(paths.pod, limits, version, root)) {
      await writeFile(file, value).catch((err: unknown) => {
        throw new InternalError(`cannot set ${value} in ${file}: ${(err as Error).message}`, { cause: err });
      });
    }
  } catch (err) {
    await removeVmCgroup(cg.dirs).catch(() => undefined);
    throw err;
  }
  return cg;
}

/**
 * rmdir the dirs in order (leaves first). A cgroup whose last process is
 * still exiting is busy for a moment: retried for up to `busyMs`. Gone is
 * fine; a cgroup that stays busy is an error naming it.
 */
export async function removeVmCgroup(dirs: readonly string[], busyMs = 3000): Promise<void> {
  const until = Date.now() + busyMs;
  for (const d of dirs) {
    for (;;) {
      try {
        await rmdir(d);
        break;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') break;
        if (code === 'EBUSY' && Date.now() < until) {
          await sleep(50);
          continue;
        }
        throw new InternalError(`cannot remove cgroup ${d}: ${(err as Error).message}`, { cause: err });
      }
    }
  }
}

/** The daemon's own oom_score_adj (what a child inherits). */
export function ownOomScoreAdj(): number {
  return Number(readFileSync('/proc/self/oom_score_adj', 'utf8').trim());
}
