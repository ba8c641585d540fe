// Which processes belong to which runtime, and what they cost: CPU time from
// /proc/<pid>/stat and memory from /proc/<pid>/smaps_rollup. Read inside the
// bench's own PID namespace (bench/lib/isolate.ts), where /proc shows only
// what the bench started.
//
// A runtime's processes are its daemon's descendants plus the trees of its
// per-pod helpers, which daemonize and so are re-parented to PID 1 (tini):
// conmon for vmpod, containerd-shim-runc-v2 for containerd. Those helpers are
// found by name (`helperComms`), everything else by ancestry. Processes in a
// pod's PID namespace other than the infra/pause process are the workload
// (`sleep`) and are left out: they are the user's, not the runtime's.

import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

export interface ProcStat {
  pid: number;
  ppid: number;
  comm: string;
  /** Start time in clock ticks since boot: with the pid, identifies a process across two reads. */
  startTime: number;
  /** utime + stime + cutime + cstime, clock ticks: its own CPU time and that of the children it reaped (runc, CNI plugins, `runc state`…). */
  cpuTicks: number;
  /** cutime + cstime: the part of cpuTicks that the children it reaped used. */
  childTicks: number;
}

export interface ProcInfo extends ProcStat {
  /** Inode of its PID namespace (`pid:[…]`), '' when unreadable. */
  pidNs: string;
}

/** Parses /proc/<pid>/stat. comm is in parentheses and may hold spaces and ')', so fields are counted from the last ')'. */
export function parseStat(pid: number, text: string): ProcStat {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) throw new Error(`/proc/${pid}/stat: malformed: ${text.slice(0, 80)}`);
  const comm = text.slice(open + 1, close);
  // After ')': state(3) ppid(4) … utime(14) stime(15) cutime(16) cstime(17) … starttime(22); rest[0] is field 3.
  const rest = text
    .slice(close + 1)
    .trim()
    .split(/\s+/);
  const f = (n: number) => {
    const v = Number(rest[n - 3]);
    if (!Number.isFinite(v)) throw new Error(`/proc/${pid}/stat: field ${n} is not a number`);
    return v;
  };
  return { pid, ppid: f(4), comm, startTime: f(22), cpuTicks: f(14) + f(15) + f(16) + f(17), childTicks: f(16) + f(17) };
}

/** Every process visible now; one that exits while being read is skipped. */
export function readProcTable(): Map<number, ProcInfo> {
  const table = new Map<number, ProcInfo>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    try {
      const st = parseStat(pid, readFileSync(`/proc/${pid}/stat`, 'utf8'));
      let pidNs = '';
      try {
        pidNs = readlinkSync(`/proc/${pid}/ns/pid`);
      } catch {
        // a zombie has no namespaces left
      }
      table.set(pid, { ...st, pidNs });
    } catch {
      // gone meanwhile
    }
  }
  return table;
}

export interface RuntimeProcs {
  name: string;
  daemonPid: number;
  /** comm of its per-pod helpers that daemonize (15 characters at most, as the kernel truncates comm). */
  helperComms: readonly string[];
  /** comm of its pods' infra (pause) processes. */
  infraComms: readonly string[];
}

/** daemon; monitor: conmon or shim; infra: the pod's infra/pause process; helper: any other child (runc, CNI, iptables…); workload: the containers' own processes. */
export type Role = 'daemon' | 'monitor' | 'infra' | 'helper' | 'workload';

export interface Owned {
  runtime: string;
  role: Role;
}

/**
 * Which runtime each process belongs to and as what. Processes of neither
 * (the bench itself, the registry, tini) are absent from the result.
 * `ourPidNs` is the bench's PID namespace: anything outside it that is not
 * infra is a container's process.
 */
export function classify(table: ReadonlyMap<number, ProcInfo>, runtimes: readonly RuntimeProcs[], ourPidNs: string): Map<number, Owned> {
  const out = new Map<number, Owned>();
  const ownerOf = (pid: number): RuntimeProcs | undefined => {
    for (let p: ProcInfo | undefined = table.get(pid), hops = 0; p && hops < 64; p = table.get(p.ppid), hops++) {
      for (const r of runtimes) if (p.pid === r.daemonPid || r.helperComms.includes(p.comm)) return r;
    }
    return undefined;
  };
  for (const p of table.values()) {
    const r = ownerOf(p.pid);
    if (!r) continue;
    let role: Role;
    if (p.pid === r.daemonPid) role = 'daemon';
    else if (r.helperComms.includes(p.comm)) role = 'monitor';
    else if (r.infraComms.includes(p.comm)) role = 'infra';
    else if (p.pidNs !== '' && p.pidNs !== ourPidNs) role = 'workload';
    else role = 'helper';
    out.set(p.pid, { runtime: r.name, role });
  }
  return out;
}

/**
 * The last PID the bench's PID namespace handed out (`ns_last_pid`): its
 * growth over a call counts the processes and threads started meanwhile,
 * e.g. a `runc state` per container on a list call.
 */
export function lastPid(): number {
  return Number(readFileSync('/proc/sys/kernel/ns_last_pid', 'utf8').trim());
}

let clkTck: number | undefined;

/** Clock ticks per second (`getconf CLK_TCK`; 100 on every Linux we run on, the fallback). */
export function clockTicks(): number {
  if (clkTck === undefined) {
    const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
    const n = Number(r.stdout?.trim());
    clkTck = r.status === 0 && n > 0 ? n : 100;
  }
  return clkTck;
}

/** A runtime's CPU time at one moment: ticks per process (key `pid:starttime`, so a reused pid is a new process), and the moment in ticks since boot. */
export interface CpuSnapshot {
  atTicks: number;
  ticks: Map<string, { startTime: number; cpuTicks: number; childTicks: number; role: Role }>;
}

/** Now, in clock ticks since boot (the unit of a process's starttime). */
export function uptimeTicks(hz: number): number {
  return Math.floor(Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]) * hz);
}

export function ourPidNs(): string {
  return readlinkSync('/proc/self/ns/pid');
}

/** CPU ticks of every non-workload process of `runtime` now. */
export function cpuSnapshot(runtimes: readonly RuntimeProcs[], runtime: string): CpuSnapshot {
  const atTicks = uptimeTicks(clockTicks());
  const table = readProcTable();
  const owned = classify(table, runtimes, ourPidNs());
  const ticks: CpuSnapshot['ticks'] = new Map();
  for (const [pid, o] of owned) {
    if (o.runtime !== runtime || o.role === 'workload') continue;
    const p = table.get(pid)!;
    ticks.set(`${pid}:${p.startTime}`, { startTime: p.startTime, cpuTicks: p.cpuTicks, childTicks: p.childTicks, role: o.role });
  }
  return { atTicks, ticks };
}

/**
 * CPU milliseconds spent between two snapshots: the growth of every process
 * in both, plus all of a process that started in between. One missing from
 * the first snapshot although it started earlier (a read that raced) counts
 * nothing rather than its whole life. The time of a process that ended in
 * between is lost unless a process in the set reaped it (then it is in that
 * one's cutime/cstime), which is how the runc and CNI children of a daemon
 * or shim are counted.
 */
export function cpuMsBetween(before: CpuSnapshot, after: CpuSnapshot, ticksPerSecond: number): number {
  return Object.values(cpuMsByRole(before, after, ticksPerSecond)).reduce((a, v) => a + v, 0);
}

/** The same, split by role, and each role's own time apart from its reaped children's (`<role> children`: `runc`, CNI plugins…). */
export function cpuMsByRole(before: CpuSnapshot, after: CpuSnapshot, ticksPerSecond: number): Record<string, number> {
  const out: Record<string, number> = {};
  const add = (key: string, ticks: number) => {
    if (ticks !== 0) out[key] = (out[key] ?? 0) + (ticks * 1000) / ticksPerSecond;
  };
  for (const [k, v] of after.ticks) {
    const b = before.ticks.get(k) ?? (v.startTime >= before.atTicks ? { cpuTicks: 0, childTicks: 0 } : undefined);
    if (!b) continue;
    add(v.role, v.cpuTicks - v.childTicks - (b.cpuTicks - b.childTicks));
    add(`${v.role} children`, v.childTicks - b.childTicks);
  }
  return out;
}

export interface MemoryUse {
  rssKiB: number;
  pssKiB: number;
}

/** Rss and Pss (kB) from /proc/<pid>/smaps_rollup. */
export function parseSmapsRollup(text: string): MemoryUse {
  const field = (name: string) => {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(text);
    if (!m) throw new Error(`smaps_rollup has no ${name} line`);
    return Number(m[1]);
  };
  return { rssKiB: field('Rss'), pssKiB: field('Pss') };
}

export interface RoleMemory extends MemoryUse {
  processes: number;
}

/** Memory of every non-workload process of each runtime, summed by role. A process that ends while being read is skipped. */
export function memoryByRole(runtimes: readonly RuntimeProcs[]): Map<string, Map<Role, RoleMemory>> {
  const table = readProcTable();
  const owned = classify(table, runtimes, ourPidNs());
  const out = new Map<string, Map<Role, RoleMemory>>(runtimes.map((r) => [r.name, new Map()]));
  for (const [pid, o] of owned) {
    if (o.role === 'workload') continue;
    let m: MemoryUse;
    try {
      m = parseSmapsRollup(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    } catch {
      continue;
    }
    const byRole = out.get(o.runtime)!;
    const cur = byRole.get(o.role) ?? { rssKiB: 0, pssKiB: 0, processes: 0 };
    byRole.set(o.role, { rssKiB: cur.rssKiB + m.rssKiB, pssKiB: cur.pssKiB + m.pssKiB, processes: cur.processes + 1 });
  }
  return out;
}
