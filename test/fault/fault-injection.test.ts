// The fault-injection stage of issue 16, reduced for CI: the real daemon is
// SIGKILLed at a few evenly spaced offsets into each of runp, create, start,
// stopp and rmp of a runc pod, and into runp of a VM pod, then restarted on
// the same root (harness.ts says what each restart must show). The full set,
// 20+ offsets per operation and handler, is bench/fault-injection.ts; its
// numbers are in docs/reliability.md. Runs in the shared critest netns with
// its registry, as the crictl e2e stage; without ../shared it says what is
// missing and skips.

import t from 'tap';
import { useSharedCritestWorld } from '../helpers/crictl';
import { sharedCritestMissing } from '../helpers/critest';
import { FaultRig, offsets, OPERATIONS, type Handler, type Operation } from './harness';

/**
 * Kills per operation and handler in CI: 4 for each runc operation; for VM
 * pods 3 into runp and 1 into start, which with their timing runs make 6 VM
 * boots (the survivor is a runc pod).
 */
const PLAN: { handler: Handler; ops: readonly Operation[]; kills: number }[] = [
  { handler: 'runc', ops: OPERATIONS, kills: 4 },
  { handler: 'vm', ops: ['runp'], kills: 3 },
  { handler: 'vm', ops: ['start'], kills: 1 },
];

const missing = sharedCritestMissing(['setup-images.sh', 'teardown.sh', 'cni/10-critest.conflist']);
if (missing) {
  process.stderr.write(`fault-injection stage SKIPPED: ${missing}\n`);
  t.test('fault injection', { skip: `fault-injection stage skipped: ${missing}` }, async () => undefined);
} else {
  t.setTimeout(20 * 60_000);
  useSharedCritestWorld(t);

  for (const { handler, ops, kills } of PLAN) {
    t.test(`SIGKILL mid-${ops.join('/')}, ${handler} pods: nothing lost, nothing leaked`, async (t) => {
      // The survivor is a runc pod for both: a VM survivor would double the boots; the bench has one per handler.
      const rig = new FaultRig(handler);
      t.teardown(() => rig.dispose());
      await rig.setup('runc');
      for (const op of ops) {
        const ms = await rig.measure(op);
        for (const at of offsets(ms, kills)) {
          const problems = await rig.trial(op, at);
          t.same(problems, [], `${handler} ${op}: killed ${Math.round(at)} of ${Math.round(ms)} ms in, the restart keeps the ready pod and resolves the interrupted one`);
        }
      }
      t.same(await rig.finish(), [], `${handler}: after removing every pod, nothing is left (${rig.daemon.starts} daemon starts)`);
    });
  }
}
