// The host's KSM for a benchmark of handlers with memory_merge: switched on
// for the measurement only, and put back exactly as it was (also on Ctrl-C)
// through the bench's cleanup. vmpod itself never writes these files; an
// operator runs KSM or does not.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KSM_DIR } from '../../src/host/ksm';
import type { Cleanup } from './cleanup';
import { clockTicks, readProcTable } from './procs';

const PAGE_KIB = 4;

export interface KsmCounters {
  /** Completed passes over all mergeable memory. */
  fullScans: number;
  /** Pages KSM keeps (one per set of identical pages). */
  pagesShared: number;
  /** Page-table entries that point at them instead of private copies: the saving, in pages. */
  pagesSharing: number;
}

const read = (name: string): string => readFileSync(join(KSM_DIR, name), 'utf8').trim();

export function ksmCounters(): KsmCounters {
  return { fullScans: Number(read('full_scans')), pagesShared: Number(read('pages_shared')), pagesSharing: Number(read('pages_sharing')) };
}

/** What KSM saves, in KiB: the sharing entries, less nothing (the shared pages themselves are counted once in pagesShared). */
export const ksmSavedKiB = (c: KsmCounters): number => c.pagesSharing * PAGE_KIB;

/**
 * Runs KSM at `pagesToScan` pages every `sleepMs` until cleanup, then puts
 * run, pages_to_scan and sleep_millisecs back as they were (run first, so
 * that ksmd stops before its rate changes).
 */
export function runKsmUntilCleanup(cleanup: Cleanup, o: { pagesToScan: number; sleepMs: number }): void {
  const saved = { run: read('run'), pages_to_scan: read('pages_to_scan'), sleep_millisecs: read('sleep_millisecs') };
  cleanup.add(`KSM settings back to run=${saved.run} pages_to_scan=${saved.pages_to_scan} sleep_millisecs=${saved.sleep_millisecs}`, () => {
    for (const [k, v] of Object.entries(saved)) writeFileSync(join(KSM_DIR, k), v);
  });
  setKsmRate(o);
  writeFileSync(join(KSM_DIR, 'run'), '1');
}

/** How fast ksmd scans: `pagesToScan` pages, then `sleepMs` asleep. Pages already merged stay merged. */
export function setKsmRate(o: { pagesToScan: number; sleepMs: number }): void {
  writeFileSync(join(KSM_DIR, 'pages_to_scan'), String(o.pagesToScan));
  writeFileSync(join(KSM_DIR, 'sleep_millisecs'), String(o.sleepMs));
}

/** Resolves once KSM completed `scans` more full passes (merging takes two: one to find a page twice, one to merge); rejects after `timeoutMs`. */
export async function waitKsmScans(scans: number, timeoutMs: number): Promise<KsmCounters> {
  const target = ksmCounters().fullScans + scans;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const c = ksmCounters();
    if (c.fullScans >= target) return c;
    if (Date.now() > deadline) throw new Error(`KSM completed ${c.fullScans - target + scans} of ${scans} full scans in ${timeoutMs} ms`);
    await new Promise((res) => setTimeout(res, 500));
  }
}

/** CPU time (ms) of the host's ksmd thread so far; undefined when no ksmd runs. */
export function ksmdCpuMs(): number | undefined {
  const ksmd = [...readProcTable().values()].find((p) => p.comm === 'ksmd');
  return ksmd && (ksmd.cpuTicks * 1000) / clockTicks();
}
