// Long ttRPC fuzz run: node dist-<x>/bench/ttrpc-fuzz.js [iterations] [seed]
// (defaults 50000 iterations, seed from the clock, printed so a failure reproduces).
import { FUZZ_MEMORY_BOUND, runFuzz } from '../test/unit/common/ttrpc/fuzz-engine';

async function main(): Promise<void> {
  const iterations = Number(process.argv[2] ?? 50_000);
  const seed = Number(process.argv[3] ?? Date.now() & 0xffffffff);
  const started = process.hrtime.bigint();
  const r = await runFuzz(seed, iterations);
  const secs = Number(process.hrtime.bigint() - started) / 1e9;
  const ok = r.uncaught.length === 0 && r.maxBuffered <= FUZZ_MEMORY_BOUND && r.unsettledCalls === 0;
  console.log(JSON.stringify({ ...r, uncaught: r.uncaught.slice(0, 5), uncaughtCount: r.uncaught.length, seconds: secs, iterationsPerSecond: iterations / secs, ok }, null, 2));
  process.exitCode = ok ? 0 : 1;
}

void main();
