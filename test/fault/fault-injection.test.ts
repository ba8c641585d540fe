// The fault-injection stage of issue 16, reduced for CI: the real daemon is
// SIGKILLed at a few evenly spaced offsets into each of runp, create, start,
// stopp and rmp of a runc pod, and into runp of a VM pod, then restarted on
// the same root (harness.ts says what each restart must show). The full set,
// 20+ offsets per operation and handler, is bench/fault-injection.ts; its
// numbers are in docs/reliability.md. Runs in the shared critest netns with
// its registry, as the crictl e2e stage; without ../shared it says what is
// missing and skips.

import t from 'tap';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { CRITEST_DIR, sharedCritestMissing } from '../helpers/critest';
import { FaultRig, offsets, OPERATIONS, type Handler, type Operation } from './harness';

function run(argv: string[], timeoutMs: number): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(argv[0], argv.slice(1), { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 16 << 20 }, (err, _stdout, stderr) => {
      resolve({ code: err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0, stderr });
    });
  });
}

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
  t.before(async () => {
    const r = await run([join(CRITEST_DIR, 'setup-images.sh')], 15 * 60_000);
    if (r.code !== 0) throw new Error(`setup-images.sh failed (${r.code}):\n${r.stderr.slice(-4000)}`);
  });
  t.teardown(async () => {
    const r = await run([join(CRITEST_DIR, 'teardown.sh')], 120_000);
    if (r.code !== 0) process.stderr.write(`critest teardown.sh failed (${r.code}): ${r.stderr.slice(-2000)}\n`);
  });

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
