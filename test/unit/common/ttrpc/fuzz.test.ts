import t from 'tap';
import { FUZZ_MEMORY_BOUND, runFuzz } from './fuzz-engine';

// Fixed seeds so a failure reproduces: rerun bench/ttrpc-fuzz.ts with the seed.
const cases = [
  { desc: 'seed 1', seed: 1, iterations: 1000 },
  { desc: 'seed 0xdecafbad', seed: 0xdecafbad, iterations: 1000 },
];

for (const c of cases) {
  t.test(`hostile peer fuzz, ${c.desc}`, async (t) => {
    const r = await runFuzz(c.seed, c.iterations);
    t.same(r.uncaught, [], 'nothing thrown out of stream handlers, no unhandled rejection');
    t.ok(r.maxBuffered <= FUZZ_MEMORY_BOUND, `parser held at most header+cap bytes (max ${r.maxBuffered})`);
    t.equal(r.unsettledCalls, 0, 'every pending call settled after the peer left');
    t.ok(r.healthyChecks >= c.iterations / 50, 'the healthy connection answered throughout');
    t.ok(r.connectionsFailed > 0, 'violations did tear connections down (the fuzzer reached them)');
  });
}
