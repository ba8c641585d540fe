// Cgroup figures → CRI stats messages, shared by the stats handlers.

import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { ContainerStats } from '../../generated/cri/runtime/v1/ContainerStats';
import type { CpuUsage } from '../../generated/cri/runtime/v1/CpuUsage';
import type { MemoryUsage } from '../../generated/cri/runtime/v1/MemoryUsage';
import type { CgroupStats } from '../../sandbox/controller';
import type { ContainerRecord } from '../../store/container';
import type { Logger } from '../../log';
import type { RuntimeDeps } from './deps';
import { containerHandle } from './containers';
import { swapCpuSample } from './cpu-samples';
import { controllerFor, handleOf } from './sandbox-ref';

const u64 = (n: number) => ({ value: String(Math.max(0, Math.round(n))) });

export function cpuUsage(key: string, s: CgroupStats): CpuUsage {
  const ts = BigInt(s.timestampNs);
  const prev = swapCpuSample(key, { ts, usage: s.cpuUsageNs });
  const out: CpuUsage = { timestamp: s.timestampNs, usage_core_nano_seconds: u64(s.cpuUsageNs) };
  if (prev && ts > prev.ts) out.usage_nano_cores = u64(((s.cpuUsageNs - prev.usage) * 1e9) / Number(ts - prev.ts));
  return out;
}

export function memoryUsage(s: CgroupStats): MemoryUsage {
  const out: MemoryUsage = {
    timestamp: s.timestampNs, working_set_bytes: u64(s.memoryWorkingSetBytes), usage_bytes: u64(s.memoryUsageBytes),
    rss_bytes: u64(s.memoryRssBytes), page_faults: u64(s.pageFaults), major_page_faults: u64(s.majorPageFaults),
  };
  if (s.memoryLimitBytes > 0) out.available_bytes = u64(s.memoryLimitBytes - s.memoryWorkingSetBytes);
  return out;
}

/** How many entries one usage walk looks at before it stops counting. */
export const DIR_USAGE_MAX_ENTRIES = 1_000_000;

/**
 * Bytes and inodes under a directory (the writable layer), not following
 * links and not crossing into other filesystems. The layer is written by the
 * container (through 9p, by a hostile guest): the walk stops counting after
 * `maxEntries`, so that kubelet's periodic stats cannot be made arbitrarily
 * expensive.
 */
export async function dirUsage(dir: string, maxEntries = DIR_USAGE_MAX_ENTRIES): Promise<{ bytes: number; inodes: number }> {
  let bytes = 0;
  let inodes = 0;
  let dev: number;
  try {
    dev = (await lstat(dir)).dev;
  } catch {
    return { bytes, inodes };
  }
  const walk = async (d: string): Promise<void> => {
    let names: string[];
    try {
      names = await readdir(d);
    } catch {
      return;
    }
    for (const n of names) {
      if (inodes >= maxEntries) return;
      const p = join(d, n);
      try {
        const st = await lstat(p);
        inodes++;
        bytes += st.blocks * 512;
        if (st.isDirectory() && st.dev === dev) await walk(p);
      } catch {
        // removed while walking
      }
    }
  };
  await walk(dir);
  return { bytes, inodes };
}

export async function containerStatsOf(deps: RuntimeDeps, c: ContainerRecord): Promise<{ stats: ContainerStats; raw: CgroupStats | null }> {
  const sb = deps.sandboxes.get(c.podSandboxId);
  const h = containerHandle(c);
  const raw = sb?.runtime && h ? await controllerFor(deps, sb).containerStats(handleOf(sb), h) : null;
  const stats: ContainerStats = { attributes: { id: c.id, metadata: c.config.metadata, labels: c.config.labels, annotations: c.config.annotations } };
  if (raw) {
    stats.cpu = cpuUsage(c.id, raw);
    stats.memory = memoryUsage(raw);
  }
  if (c.upperDir) {
    const u = await dirUsage(c.upperDir);
    stats.writable_layer = { timestamp: raw?.timestampNs ?? String(Date.now() * 1e6), fs_id: { mountpoint: c.upperDir }, used_bytes: u64(u.bytes), inodes_used: u64(u.inodes) };
  }
  return { stats, raw };
}

/**
 * `fn` for each item, leaving out those it fails for (logged): one pod whose
 * stats cannot be read (a VM going away, a guest that does not answer) must
 * not fail the stats of the whole node, which kubelet lists in one call.
 */
export async function eachReadable<T, R>(items: readonly T[], fn: (item: T) => Promise<R>, log: Logger, what: (item: T) => Record<string, unknown>): Promise<R[]> {
  const out = await Promise.all(
    items.map((item) =>
      fn(item).catch((err: unknown) => {
        log.warn({ ...what(item), err: (err as Error).message }, 'stats unavailable; left out of the list');
        return undefined;
      }),
    ),
  );
  return out.filter((r): r is Awaited<R> => r !== undefined) as R[];
}
