// How the debug CLI prints the admin socket's answers. Pure.

import type { OverheadReport } from '../pods/overhead';
import type { AgentLogRead } from '../sandbox/controller';
import type { PodRow, VmAnswer } from './protocol';

/** crictl shows 13 characters of an id. */
export const SHORT_ID = 13;

/** Unix nanoseconds (decimal string) → "2026-12-05T10:58:04Z"; "" when not a time. */
export function formatTime(ns: string): string {
  if (!/^\d+$/.test(ns)) return '';
  const ms = Number(BigInt(ns) / 1_000_000n);
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Control characters a guest or a pod's metadata could send to an operator's terminal are shown escaped. */
export function printable(s: string): string {
  // eslint-disable-next-line no-control-regex -- the point is to match control characters
  return s.replace(/[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  return [header, ...rows].map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('   ')).join('\n') + '\n';
}

export function formatPods(rows: PodRow[]): string {
  return table(
    ['POD ID', 'NAME', 'NAMESPACE', 'HANDLER', 'STATE', 'CREATED'],
    rows.map((r) => [r.id.slice(0, SHORT_ID), printable(r.name), printable(r.namespace), r.handler, r.state, formatTime(r.createdAt)]),
  );
}

function value(v: string | number | boolean | null): string {
  return v === null ? '-' : printable(String(v));
}

export function formatVm(vm: VmAnswer): string {
  const lines: [string, string][] = [
    ['pod', vm.id],
    ['name', `${printable(vm.namespace)}/${printable(vm.name)}`],
    ['handler', vm.handler],
    ['state', vm.state],
    ['isolation', vm.isolation],
    ...Object.entries(vm.facts).map(([k, v]): [string, string] => [k, value(v)]),
  ];
  const w = Math.max(...lines.map(([k]) => k.length)) + 1;
  let out = lines.map(([k, v]) => `${`${k}:`.padEnd(w)} ${v}`).join('\n') + '\n';
  if (vm.consoleTail !== undefined) {
    out += vm.consoleTail === '' ? 'console tail: (empty)\n' : `console tail:\n${printableLines(vm.consoleTail)}`;
  }
  return out;
}

/** Console text: each line made printable, ending in one newline. */
export function printableLines(text: string): string {
  if (text === '') return '';
  const lines = text.replace(/\r\n/g, '\n').replace(/\n$/, '').split('\n');
  return lines.map((l) => printable(l)).join('\n') + '\n';
}

export function formatAgentLog(read: AgentLogRead): string {
  let out = '';
  if (read.dropped > 0 && (read.lines[0]?.seq ?? read.nextSeq) <= read.dropped) out += `(${read.dropped} older lines were evicted from the agent's ring)\n`;
  for (const l of read.lines) out += `${formatTime(l.timeUnixNano)} ${l.level.padEnd(5)} ${printable(l.msg)}\n`;
  return out;
}

const mib = (bytes: number): string => `${(bytes / (1024 * 1024)).toFixed(1)}Mi`;
const mcpu = (m: number): string => `${m.toFixed(1)}m`;

/** `vmpod overhead`: each VM pod's measured overhead, the median and max, the podFixed to use, and how it was measured. */
export function formatOverhead(r: OverheadReport): string {
  if (!r.summary) return 'no running VM pod to measure: the overhead is measured on the VM pods this node runs (start one, then ask again)\n';
  let out = table(
    ['POD ID', 'NAME', 'VMM RSS', 'GUEST WS', 'MEM OVERHEAD', 'VMM CPU', 'GUEST CPU', 'CPU OVERHEAD', 'THREADS'],
    r.pods.map((p) => [
      p.id.slice(0, SHORT_ID),
      `${printable(p.namespace)}/${printable(p.name)}`,
      mib(p.vmmRssBytes),
      mib(p.guestWorkingSetBytes),
      mib(p.memoryBytes),
      mcpu(p.vmmMillicores),
      mcpu(p.guestMillicores),
      mcpu(p.cpuMillicores),
      p.vmmThreads === undefined ? '-' : String(p.vmmThreads),
    ]),
  );
  const s = r.summary;
  out += `\nmemory overhead: median ${mib(s.memory.medianBytes)}, max ${mib(s.memory.maxBytes)} (${r.pods.length} VM pod${r.pods.length === 1 ? '' : 's'})\n`;
  out += `cpu overhead:    median ${mcpu(s.cpu.medianMillicores)}, max ${mcpu(s.cpu.maxMillicores)} (over ${r.intervalMs} ms)\n`;
  out += `\nRuntimeClass (the maximum measured, rounded up; add your own margin):\n`;
  out += `overhead:\n  podFixed:\n    memory: "${s.podFixed.memory}"\n    cpu: "${s.podFixed.cpu}"\n`;
  out += `\nHow: two readings ${r.intervalMs} ms apart of each VM pod's hypervisor process on the host (/proc/<pid>/stat, smaps_rollup) and of its guest's containers (the agent's cgroup stats). Memory overhead = hypervisor RSS - the guest containers' working set; CPU overhead = hypervisor CPU time - the guest containers' CPU time, as a rate over the interval. Idle pods show idle overhead: measure under your usual load.\n`;
  return out;
}
