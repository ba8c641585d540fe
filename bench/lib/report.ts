// The machine a result was measured on, and the JSON file a bench writes
// with --json, so numbers in docs/performance.md can be traced to a run.

import { cpus, loadavg, release, totalmem } from 'node:os';
import { writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

export interface BenchEnvironment {
  date: string;
  cpus: number;
  cpuModel: string;
  memoryBytes: number;
  kernel: string;
  node: string;
  /** 1-minute load average when the run started: on a shared machine it says how noisy the numbers are. */
  loadavg1: number;
  /** `git describe --always --dirty` of the checkout, when run from one: which code the numbers belong to. */
  commit?: string;
}

function gitCommit(): string | undefined {
  const r = spawnSync('git', ['describe', '--always', '--dirty'], { cwd: __dirname, encoding: 'utf8', timeout: 5000 });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

export function benchEnvironment(): BenchEnvironment {
  const c = cpus();
  return {
    date: new Date().toISOString(),
    cpus: c.length,
    cpuModel: c[0]?.model ?? 'unknown',
    memoryBytes: totalmem(),
    kernel: release(),
    node: process.version,
    loadavg1: loadavg()[0],
    commit: gitCommit(),
  };
}

export function describeEnvironment(e: BenchEnvironment): string {
  return `${e.date}  ${e.cpus} vCPU (${e.cpuModel}), kernel ${e.kernel}, node ${e.node}, load average ${e.loadavg1.toFixed(2)}${e.commit ? `, commit ${e.commit}` : ''}`;
}

/** Writes `{ bench, environment, ...result }` as pretty JSON. */
export function writeJsonReport(file: string, bench: string, environment: BenchEnvironment, result: object): void {
  writeFileSync(file, `${JSON.stringify({ bench, environment, ...result }, null, 2)}\n`);
}
