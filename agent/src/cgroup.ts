// Guest cgroup v2 statistics and OOM counters (parsers are pure; readers take
// the cgroup directory so tests point them at a temp dir).

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { StatsContainerResponse } from '../../common/generated/agent/agent';
import { readTextIfThere } from './files';

export function parseFlatKeyed(text: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of text.split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined && /^\d+$/.test(v)) m.set(k, Number(v));
  }
  return m;
}

/** memory.max and friends: a number or "max" (no limit → 0). */
export function parseLimit(text: string): number {
  const t = text.trim();
  return /^\d+$/.test(t) ? Number(t) : 0;
}

/** What the guest reads for StatsContainer: the wire message minus the timestamp the RPC adds. */
export type CgroupStats = Omit<StatsContainerResponse, 'timestamp_unix_nano'>;

async function read(dir: string, file: string): Promise<string> {
  try {
    return await readFile(join(dir, file), 'utf8');
  } catch {
    return '';
  }
}

/**
 * oom_kill from memory.events, or undefined when the cgroup is gone (crun
 * removes it when the container exits) or not made yet. Synchronous, as
 * files.ts reads procfs and sysfs: cgroupfs answers at once, and
 * StartContainer reads it twice before crun starts, where each trip through
 * libuv's thread pool would cost the guest's one vCPU a few milliseconds
 * under TCG.
 */
export function readOomKills(dir: string): number | undefined {
  const text = readTextIfThere(join(dir, 'memory.events'));
  return text ? (parseFlatKeyed(text).get('oom_kill') ?? 0) : undefined;
}

export async function readCgroupStats(dir: string): Promise<CgroupStats> {
  const [cpu, cur, max, mstat, pids, events] = await Promise.all(['cpu.stat', 'memory.current', 'memory.max', 'memory.stat', 'pids.current', 'memory.events'].map((f) => read(dir, f)));
  const c = parseFlatKeyed(cpu);
  const ms = parseFlatKeyed(mstat);
  const usage = parseLimit(cur);
  // Working set as kubelet computes it: usage minus inactive file pages.
  const inactiveFile = ms.get('inactive_file') ?? 0;
  return {
    cpu_usage_usec: c.get('usage_usec') ?? 0,
    cpu_user_usec: c.get('user_usec') ?? 0,
    cpu_system_usec: c.get('system_usec') ?? 0,
    memory_usage_bytes: usage,
    memory_working_set_bytes: Math.max(0, usage - inactiveFile),
    memory_limit_bytes: parseLimit(max),
    memory_rss_bytes: ms.get('anon') ?? 0,
    pids_current: parseLimit(pids),
    oom_kill_count: parseFlatKeyed(events).get('oom_kill') ?? 0,
  };
}
