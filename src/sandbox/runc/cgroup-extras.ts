// The cgroup figures beyond CPU and memory: block IO, pressure (PSI) and
// swap, read only where the kernel keeps them. Parsers are pure; the reader
// leaves a field unset when its file is absent (a kernel without the
// controller, PSI or swap accounting), never 0.
//
// Where each comes from:
// - IO: cgroup v1 blkio.throttle.io_service{_bytes,d}_recursive (the
//   throttle files count every bio whatever the IO scheduler; the CFQ/BFQ
//   ones exist only with those schedulers), v2 io.stat.
// - PSI: v2 <cg>/{cpu,memory,io}.pressure. Cgroup v1 hierarchies have no
//   pressure files; the kernel accounts pressure per cgroup of the default
//   (v2) hierarchy only, so on a hybrid host (v1 controllers plus the
//   `unified` v2 tree, where runc creates the pod's path too) the pressure
//   comes from /sys/fs/cgroup/unified/<path>. A pure v1 host has none.
// - Swap: v1 memory.memsw.* (only with swap accounting), v2 memory.swap.*.
//
// Read synchronously, as cgroup-stats.ts says why: kernel-made files, no disk.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { IoFigures, PressureFigures, PsiLine, StatsExtras } from '../stats-extras';

const ROOT = '/sys/fs/cgroup';
/** v1 reports "no limit" as a huge page-aligned number. */
const V1_UNLIMITED = 2 ** 62;

async function readText(path: string): Promise<string | null> {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

async function readNum(path: string): Promise<number | null> {
  const t = await readText(path);
  if (t === null) return null;
  const v = t.trim();
  if (v === 'max') return Infinity;
  const n = Number(v);
  return v !== '' && Number.isFinite(n) ? n : null;
}

/**
 * v1 blkio `…io_service_bytes_recursive` / `…io_serviced_recursive`:
 * lines `MAJ:MIN Read|Write|Sync|Async|Discard|Total N` and a final `Total N`.
 * Returns the Read and Write sums over devices; null if nothing parses.
 */
export function parseBlkioRecursive(text: string): { read: number; write: number } | null {
  let read = 0;
  let write = 0;
  let seen = false;
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length === 2 && f[0] === 'Total' && /^\d+$/.test(f[1])) seen = true;
    if (f.length !== 3 || !/^\d+:\d+$/.test(f[0]) || !/^\d+$/.test(f[2])) continue;
    seen = true;
    if (f[1] === 'Read') read += Number(f[2]);
    else if (f[1] === 'Write') write += Number(f[2]);
  }
  return seen ? { read, write } : null;
}

/** v2 io.stat: `MAJ:MIN rbytes=N wbytes=N rios=N wios=N dbytes=N dios=N`, summed over devices. */
export function parseIoStat(text: string): IoFigures {
  const out: IoFigures = { readBytes: 0, writeBytes: 0, readOps: 0, writeOps: 0 };
  const key: Record<string, keyof IoFigures> = { rbytes: 'readBytes', wbytes: 'writeBytes', rios: 'readOps', wios: 'writeOps' };
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (!/^\d+:\d+$/.test(f[0] ?? '')) continue;
    for (const kv of f.slice(1)) {
      const [k, v] = kv.split('=');
      if (key[k] && /^\d+$/.test(v ?? '')) out[key[k]] += Number(v);
    }
  }
  return out;
}

function parsePsiLine(fields: string[]): PsiLine | null {
  const kv: Record<string, number> = {};
  for (const f of fields) {
    const [k, v] = f.split('=');
    if (v !== undefined && v !== '' && Number.isFinite(Number(v))) kv[k] = Number(v);
  }
  if (kv.total === undefined || kv.avg10 === undefined || kv.avg60 === undefined || kv.avg300 === undefined) return null;
  return { totalUs: kv.total, avg10: kv.avg10, avg60: kv.avg60, avg300: kv.avg300 };
}

/** A PSI file (`some avg10=… avg60=… avg300=… total=…`, optionally a `full …` line); null without a `some` line. */
export function parsePressure(text: string): PressureFigures | null {
  let some: PsiLine | null = null;
  let full: PsiLine | null = null;
  for (const line of text.split('\n')) {
    const [kind, ...fields] = line.trim().split(/\s+/);
    if (kind === 'some') some = parsePsiLine(fields);
    else if (kind === 'full') full = parsePsiLine(fields);
  }
  if (!some) return null;
  return full ? { some, full } : { some };
}

/**
 * v1 swap from memory.usage_in_bytes and memory.memsw.usage_in_bytes (memory
 * plus swap) and their limits. Pure; undefined fields when not known.
 */
export function v1Swap(usage: number | null, memswUsage: number | null, limit: number | null, memswLimit: number | null): Pick<StatsExtras, 'swapUsageBytes' | 'swapLimitBytes'> {
  const out: Pick<StatsExtras, 'swapUsageBytes' | 'swapLimitBytes'> = {};
  if (usage === null || memswUsage === null) return out;
  out.swapUsageBytes = Math.max(0, memswUsage - usage);
  if (limit !== null && memswLimit !== null && memswLimit < V1_UNLIMITED && limit < V1_UNLIMITED) out.swapLimitBytes = Math.max(0, memswLimit - limit);
  return out;
}

async function pressureOf(dir: string): Promise<StatsExtras['pressure']> {
  const out: NonNullable<StatsExtras['pressure']> = {};
  for (const r of ['cpu', 'memory', 'io'] as const) {
    const t = await readText(join(dir, `${r}.pressure`));
    const p = t === null ? null : parsePressure(t);
    if (p) out[r] = p;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/** v1 memory figures the caller has just read (cgroup-stats.ts), so they are not read twice per call. */
export interface V1MemoryRead {
  usage: number | null;
  limit: number | null;
}

/** IO, pressure and swap of cgroup `cgroupPath`; fields the host does not keep are left out. */
export async function cgroupExtras(cgroupPath: string, version: 1 | 2, v1Memory?: V1MemoryRead): Promise<StatsExtras> {
  const out: StatsExtras = {};
  if (version === 2) {
    const dir = join(ROOT, cgroupPath);
    const io = await readText(join(dir, 'io.stat'));
    if (io !== null) out.io = parseIoStat(io);
    const pressure = await pressureOf(dir);
    if (pressure) out.pressure = pressure;
    const swap = await readNum(join(dir, 'memory.swap.current'));
    if (swap !== null && Number.isFinite(swap)) out.swapUsageBytes = swap;
    const swapMax = await readNum(join(dir, 'memory.swap.max'));
    if (swapMax !== null && Number.isFinite(swapMax)) out.swapLimitBytes = swapMax;
    return out;
  }
  const blkio = join(ROOT, 'blkio', cgroupPath);
  const bytesText = await readText(join(blkio, 'blkio.throttle.io_service_bytes_recursive'));
  const opsText = await readText(join(blkio, 'blkio.throttle.io_serviced_recursive'));
  const bytes = bytesText === null ? null : parseBlkioRecursive(bytesText);
  const ops = opsText === null ? null : parseBlkioRecursive(opsText);
  if (bytes && ops) out.io = { readBytes: bytes.read, writeBytes: bytes.write, readOps: ops.read, writeOps: ops.write };
  const pressure = await pressureOf(join(ROOT, 'unified', cgroupPath));
  if (pressure) out.pressure = pressure;
  const mem = join(ROOT, 'memory', cgroupPath);
  Object.assign(
    out,
    v1Swap(
      v1Memory ? v1Memory.usage : await readNum(join(mem, 'memory.usage_in_bytes')),
      await readNum(join(mem, 'memory.memsw.usage_in_bytes')),
      v1Memory ? v1Memory.limit : await readNum(join(mem, 'memory.limit_in_bytes')),
      await readNum(join(mem, 'memory.memsw.limit_in_bytes')),
    ),
  );
  return out;
}
