// Benchmark: what starting a helper program costs the daemon, Node's
// child_process.spawn (fork + exec) against common/native/spawn.ts's posix_spawn
// through the native addon, in one process whose heap is grown to a
// daemon's size first (the fork copies the page tables of all of it).
//
//   node dist/bench/spawn.js [--runs 41] [--heap-mib 100] [--json FILE]
//
// Per side, medians of: the time the spawn call blocks the event loop (what
// every other CRI call waits for), and the time until the child (/bin/true)
// has exited and been reaped. The sides alternate within each round.

import { spawn as nodeSpawn } from 'node:child_process';
import { spawnChild, type Child } from '../common/native/spawn';
import { loadAddon } from '../common/native/addon';
import { parseOrUsage } from './lib/args';
import { measured, renderComparison, type PhaseRow } from './lib/compare';
import { roundOrder } from './lib/interleave';
import { benchEnvironment, describeEnvironment, writeJsonReport } from './lib/report';
import { msSince } from './lib/stats';

const SPEC = {
  description: "bench/spawn: Node's spawn (fork + exec) vs the addon's posix_spawn, blocked time and time to exit, in a process of a daemon's size.",
  defaultRuns: 41,
  ints: {
    'heap-mib': { default: 100, min: 0, max: 4096, help: 'MiB of live buffers allocated first (the daemon runs at ~100-150 MiB RSS)' },
  },
};

type Side = 'child_process' | 'posix_spawn';
const SIDES: readonly Side[] = ['child_process', 'posix_spawn'];

async function once(side: Side): Promise<{ blocked: number; exited: number }> {
  const t0 = process.hrtime.bigint();
  const c: Child = side === 'posix_spawn' ? spawnChild('/bin/true', []) : nodeSpawn('/bin/true', [], { stdio: 'ignore' });
  const blocked = msSince(t0);
  await new Promise<void>((resolve, reject) => {
    c.on('error', reject);
    c.on('exit', () => resolve());
  });
  return { blocked, exited: msSince(t0) };
}

async function main(): Promise<void> {
  const parsed = parseOrUsage('dist/bench/spawn.js', SPEC, process.argv.slice(2));
  if ('exit' in parsed) {
    process.exitCode = parsed.exit;
    return;
  }
  const { args } = parsed;
  try {
    loadAddon();
  } catch (err) {
    console.error(`bench/spawn needs the native addon (scripts/build-native): ${(err as Error).message}`);
    process.exitCode = 1;
    return;
  }
  // Touched pages, as a daemon's heap and code are: the fork copies their page tables.
  const heap = Array.from({ length: args.ints['heap-mib'] }, () => Buffer.alloc(1 << 20, 1));
  const samples: Record<Side, { blocked: number[]; exited: number[] }> = { child_process: { blocked: [], exited: [] }, posix_spawn: { blocked: [], exited: [] } };
  for (const s of SIDES) await once(s); // warm-up: the addon's load, the PATH lookups
  for (let r = 0; r < args.runs; r++) {
    for (const s of roundOrder(SIDES, r)) {
      const x = await once(s);
      samples[s].blocked.push(x.blocked);
      samples[s].exited.push(x.exited);
    }
  }
  const env = benchEnvironment();
  const rss = process.memoryUsage().rss;
  const rows: PhaseRow[] = [
    { label: 'spawn call, event loop blocked', outcomes: SIDES.map((s) => measured(samples[s].blocked)) },
    { label: 'spawn to exit (/bin/true)', outcomes: SIDES.map((s) => measured(samples[s].exited)) },
  ];
  console.log(describeEnvironment(env));
  console.log(`${args.runs} rounds alternating the sides; this process: ${heap.length} MiB of buffers, RSS ${Math.round(rss / 2 ** 20)} MiB\n`);
  console.log(renderComparison(SIDES, rows, { value: (v) => `${v.toFixed(2)} ms`, spread: true }));
  if (args.json) writeJsonReport(args.json, 'spawn', env, { args: { runs: args.runs, ...args.ints }, rssBytes: rss, samples });
}

if (require.main === module) void main();
