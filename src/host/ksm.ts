// The host's KSM (kernel samepage merging), the only thing that acts on a
// handler's memory_merge: QEMU merely marks guest RAM mergeable, ksmd does
// the merging, and only while /sys/kernel/mm/ksm/run is 1. vmpod never
// switches KSM on itself: it is host-wide and merges any process that asks.

import { readFileSync } from 'node:fs';

export const KSM_DIR = '/sys/kernel/mm/ksm';
export const KSM_RUN_PATH = `${KSM_DIR}/run`;

export type KsmState = 'running' | 'stopped' | 'absent';

/** What /sys/kernel/mm/ksm/run says: 1 running; 0 or 2 (stopped, pages unmerged) stopped; no file: a kernel without KSM. */
export function ksmState(path = KSM_RUN_PATH): KsmState {
  let v: string;
  try {
    v = readFileSync(path, 'utf8').trim();
  } catch {
    return 'absent';
  }
  return v === '1' ? 'running' : 'stopped';
}

/** The line `vmpod check` prints for a handler's memory merging, and whether the daemon should warn about it. Pure. */
export function memoryMergeDecision(handler: string, memoryMerge: boolean, ksm: KsmState): { line: string; warn: boolean } {
  const key = `config memory_merge = ${memoryMerge}`;
  if (!memoryMerge) return { line: `${handler} memory merge: off (${key}; QEMU mem-merge=off, whatever the host's KSM does)`, warn: false };
  if (ksm === 'running') return { line: `${handler} memory merge: on (${key}; the host's KSM is running)`, warn: false };
  const why = ksm === 'absent' ? 'this kernel has no KSM' : `the host's KSM is stopped (${KSM_RUN_PATH} is not 1)`;
  return { line: `${handler} memory merge: nothing is merged (${key}, but ${why})`, warn: true };
}
