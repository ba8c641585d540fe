// CRI fuzzing (issue 16), bounded for CI: random but well-typed requests for
// every RuntimeService and ImageService method (fuzz/generate.ts) against
// the real daemon of the fault rig, about 30 s with runc pods and 60 s with
// VM pods (at most 3 valid VM RunPodSandbox calls: each is a TCG boot). The
// daemon must keep answering throughout, never answer UNKNOWN or INTERNAL,
// and leave nothing once every pod is removed (fuzz/runner.ts says what
// counts). The seed is printed; VMPOD_FUZZ_SEED=<n> replays it. The longer
// run is bench/cri-fuzz.ts. Runs in the shared critest netns with its
// registry, as the fault-injection stage; without ../shared it says what is
// missing and skips.

import t from 'tap';
import { useSharedCritestWorld } from '../helpers/crictl';
import { sharedCritestMissing } from '../helpers/critest';
import { FaultRig } from './harness';
import { CriFuzzer, renderReport } from './fuzz/runner';
import type { Handler } from './fuzz/generate';

/** The fixed seed CI uses; VMPOD_FUZZ_SEED overrides it to replay another run. */
const DEFAULT_SEED = 20261205;
const seed = process.env.VMPOD_FUZZ_SEED ? Number(process.env.VMPOD_FUZZ_SEED) : DEFAULT_SEED;

const PLAN: { handler: Handler; seconds: number }[] = [
  { handler: 'runc', seconds: 30 },
  { handler: 'vm', seconds: 60 },
];

const missing = sharedCritestMissing(['setup-images.sh', 'teardown.sh', 'cni/10-critest.conflist']);
if (missing) {
  process.stderr.write(`CRI fuzz stage SKIPPED: ${missing}\n`);
  t.test('CRI fuzz', { skip: `CRI fuzz stage skipped: ${missing}` }, async () => undefined);
} else if (!Number.isInteger(seed) || seed < 0) {
  t.fail(`VMPOD_FUZZ_SEED must be a non-negative integer, not "${process.env.VMPOD_FUZZ_SEED}"`);
} else {
  t.setTimeout(20 * 60_000);
  t.comment(`CRI fuzz seed ${seed} (replay with VMPOD_FUZZ_SEED=${seed})`);
  useSharedCritestWorld(t);

  for (const { handler, seconds } of PLAN) {
    t.test(`${seconds} s of random CRI calls, ${handler} pods: the daemon answers throughout, no UNKNOWN/INTERNAL, nothing left`, async (t) => {
      const rig = new FaultRig(handler);
      t.teardown(() => rig.dispose());
      const report = await new CriFuzzer(rig, { seed, seconds, handler, maxVmPods: 3, progress: (l) => t.comment(l) }).run();
      t.comment(renderReport(report));
      t.ok(report.calls > 0 && report.probes > 0, `${report.calls} calls, ${report.probes} liveness probes`);
      t.ok(report.podsStarted > 0, `some pods really started (${report.podsStarted})`);
      t.same(report.problems, [], `seed ${seed}: no problem (replay with VMPOD_FUZZ_SEED=${seed})`);
    });
  }
}
