// Validation of LinuxContainerResources (CreateContainer's
// config.linux.resources, UpdateContainerResources, a pod's linux resources
// and overhead): a value runc or the kernel would refuse is refused here,
// with INVALID_ARGUMENT naming the field, instead of coming back from
// `runc update` as an INTERNAL error. Found by the CRI fuzzer: cpuset_cpus
// "eo8yyx\0p" reached cpuset.cpus. The ranges are the kernel's (CFS period
// 1 ms..1 s, quota at least 1 ms and below 2^44 µs, v1 shares 2..262144,
// oom_score_adj -1000..1000); CPUs, memory nodes and huge page sizes must
// exist on this host; `unified` is cgroup v2's and needs a v2 host.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { InvalidArgumentError } from '../../common/errors';
import { cgroupVersion } from '../host/facts';
import type { LinuxContainerResources__Output } from '../generated/cri/runtime/v1/LinuxContainerResources';
import { int64 } from './validate';

/** What the checks need to know about this host's cgroups. */
export interface CgroupHost {
  cgroupVersion: 1 | 2;
  onlineCpus: ReadonlySet<number>;
  onlineMems: ReadonlySet<number>;
  /** As CRI names them: "2MB", "1GB". */
  hugepageSizes: ReadonlySet<string>;
}

const LIST = /^\d{1,5}(?:-\d{1,5})?(?:,\d{1,5}(?:-\d{1,5})?)*$/;
/** A cgroup v2 interface file: controller.knob (memory.high, cpu.max, io.weight). */
const UNIFIED_KEY = /^[a-z][a-z0-9_]*\.[a-z0-9_.]+$/;
const MAX_UNIFIED_VALUE = 4096;

/** The kernel's list format ("0-3,8"), or undefined when it is not one (a range going down included). */
export function parseCpuList(s: string): number[] | undefined {
  if (!LIST.test(s)) return undefined;
  const out: number[] = [];
  for (const part of s.split(',')) {
    const [lo, hi = lo] = part.split('-').map(Number);
    if (hi < lo) return undefined;
    for (let i = lo; i <= hi; i++) out.push(i);
  }
  return out;
}

function set(field: string, value: string, online: ReadonlySet<number>, what: string): void {
  if (value === '') return;
  const ids = parseCpuList(value);
  if (!ids) throw new InvalidArgumentError(field, `${JSON.stringify(value.slice(0, 100))} is not a ${what} list such as "0-3,8"`);
  const absent = ids.filter((i) => !online.has(i));
  if (absent.length) throw new InvalidArgumentError(field, `${what}s ${absent.slice(0, 10).join(',')} are not online on this host (online: ${[...online].join(',')})`);
}

function range(field: string, v: bigint, lo: bigint, hi: bigint, also: readonly bigint[] = []): void {
  if (also.includes(v) || (v >= lo && v <= hi)) return;
  throw new InvalidArgumentError(field, `${v} is outside ${lo}..${hi}${also.length ? ` (or ${also.join(', ')})` : ''}`);
}

export function validateResources(r: LinuxContainerResources__Output, field: string, host: CgroupHost = cgroupHost()): void {
  const n = (k: keyof LinuxContainerResources__Output) => int64(r[k] || '0', `${field}.${k}`);
  const f = (k: string) => `${field}.${k}`;
  range(f('cpu_period'), n('cpu_period'), 1000n, 1_000_000n, [0n]);
  range(f('cpu_quota'), n('cpu_quota'), 1000n, 2n ** 44n - 1n, [0n, -1n]);
  range(f('cpu_shares'), n('cpu_shares'), 2n, 262_144n, [0n]);
  range(f('oom_score_adj'), n('oom_score_adj'), -1000n, 1000n);
  const memory = n('memory_limit_in_bytes');
  const swap = n('memory_swap_limit_in_bytes');
  range(f('memory_limit_in_bytes'), memory, 0n, 2n ** 63n - 1n, [-1n]);
  range(f('memory_swap_limit_in_bytes'), swap, 0n, 2n ** 63n - 1n, [-1n]);
  if (memory > 0n && swap > 0n && swap < memory)
    throw new InvalidArgumentError(f('memory_swap_limit_in_bytes'), `${swap} is below memory_limit_in_bytes ${memory}: it limits memory and swap together`);
  set(f('cpuset_cpus'), r.cpuset_cpus, host.onlineCpus, 'CPU');
  set(f('cpuset_mems'), r.cpuset_mems, host.onlineMems, 'memory node');
  r.hugepage_limits.forEach((h, i) => {
    if (!host.hugepageSizes.has(h.page_size)) {
      throw new InvalidArgumentError(
        f(`hugepage_limits[${i}].page_size`),
        `${JSON.stringify(h.page_size.slice(0, 100))} is not a huge page size of this host (have: ${[...host.hugepageSizes].join(', ') || 'none'})`,
      );
    }
  });
  const unified = Object.entries(r.unified);
  if (unified.length && host.cgroupVersion !== 2) throw new InvalidArgumentError(f('unified'), 'needs a cgroup v2 host; this one mounts cgroup v1');
  for (const [k, v] of unified) {
    if (!UNIFIED_KEY.test(k)) throw new InvalidArgumentError(f(`unified[${JSON.stringify(k.slice(0, 100))}]`), 'is not a cgroup v2 interface file name such as memory.high');
    if (v.length > MAX_UNIFIED_VALUE || [...v].some((ch) => ch < ' ' || ch === '\x7f')) {
      throw new InvalidArgumentError(f(`unified["${k}"]`), `must be at most ${MAX_UNIFIED_VALUE} characters without control characters`);
    }
  }
}

/** "hugepages-2048kB" (sysfs) as CRI names it: "2MB". */
export function hugepageSizeName(dirName: string): string | undefined {
  const m = /^hugepages-(\d+)kB$/.exec(dirName);
  if (!m) return undefined;
  const kb = Number(m[1]);
  if (kb % (1024 * 1024) === 0) return `${kb / (1024 * 1024)}GB`;
  if (kb % 1024 === 0) return `${kb / 1024}MB`;
  return `${kb}KB`;
}

function readList(path: string): Set<number> {
  try {
    return new Set(parseCpuList(readFileSync(path, 'utf8').trim()) ?? []);
  } catch {
    return new Set();
  }
}

/**
 * This host's facts, read from /sys on each call (a few small sysfs reads,
 * only for a request that carries resources), so a CPU or memory node
 * brought online while the daemon runs is seen, and no module keeps state.
 */
export function cgroupHost(): CgroupHost {
  return {
    cgroupVersion: cgroupVersion(),
    onlineCpus: readList('/sys/devices/system/cpu/online'),
    // A kernel without NUMA has no node directory: node 0 is the only one.
    onlineMems: existsSync('/sys/devices/system/node/online') ? readList('/sys/devices/system/node/online') : new Set([0]),
    hugepageSizes: new Set((existsSync('/sys/kernel/mm/hugepages') ? readdirSync('/sys/kernel/mm/hugepages') : []).map(hugepageSizeName).filter((s): s is string => s !== undefined)),
  };
}
