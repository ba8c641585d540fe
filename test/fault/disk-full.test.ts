// Disk full at each write (issue 16), against the real daemon: its root on a
// small loop-mounted ext4, its state on a small tmpfs (diskfull/rig.ts says
// what each step checks). For runp, create, start, stopp and rmp of a runc
// pod the rig measures what the call writes to the root, then sweeps the
// free space from 0 up past that, one call per amount, so that each write of
// the call in turn is the one that fails; a few amounts for a VM pod's runp;
// then one call each of runp and create with the state tmpfs full. After everything is removed the leak
// scan must find nothing, and the loop device is detached in any case.
// Runs in the shared critest netns with its registry, as the fault-injection
// stage; without ../shared, mkfs.ext4 or losetup it says what is missing and
// skips.

import t from 'tap';
import { spawnSync } from 'node:child_process';
import { useSharedCritestWorld } from '../helpers/crictl';
import { sharedCritestMissing } from '../helpers/critest';
import { OPERATIONS } from './harness';
import { DiskFullRig, sweepPoints } from './diskfull/rig';

/** Steps per operation: enough for each of its writes to fail once (a runc runp writes a handful of blocks). */
const STEPS = 12;
/** Steps for a VM pod's runp: each costs a boot, and its retry another. */
const VM_STEPS = 4;

const tool = ['mkfs.ext4', 'losetup', 'fallocate'].find((c) => spawnSync('sh', ['-c', `command -v ${c}`]).status !== 0);
const missing = sharedCritestMissing(['setup-images.sh', 'teardown.sh', 'cni/10-critest.conflist']) ?? (tool && `${tool} is not installed`);
if (missing) {
  process.stderr.write(`disk-full stage SKIPPED: ${missing}\n`);
  t.test('disk full at each write', { skip: `disk-full stage skipped: ${missing}` }, async () => undefined);
} else {
  t.setTimeout(15 * 60_000);
  useSharedCritestWorld(t);

  t.test('disk full at each write of a runc pod: clear errors, nothing lost, nothing leaked', async (t) => {
    // 48 MiB of ext4 holds the busybox image and a few pods; 64 MiB of tmpfs their runc state.
    const rig = new DiskFullRig(48, 64);
    // Also when the test fails half-way; an assertion may not run there (tap: the test has ended).
    t.teardown(() => rig.dispose());
    await rig.setup();
    const tally: string[] = [];
    for (const op of OPERATIONS) {
      const written = await rig.measure(op);
      const points = sweepPoints(written, rig.root.blockSize, STEPS);
      const outcomes: string[] = [];
      for (const free of points) {
        const r = await rig.step(op, rig.root, free);
        outcomes.push(r.outcome);
        t.same(r.problems, [], `${op} with ${free} bytes free on the root (it writes ${written})`);
      }
      t.ok(outcomes.length >= 5, `${op}: ${outcomes.length} amounts of free space`);
      // A run and a create write records: with nothing free they cannot succeed, so the sweep did reach their writes.
      if (op === 'runp' || op === 'create') t.not(outcomes[0], 'ok', `${op} with no space free fails`);
      tally.push(`${op} (writes ${written} B): ${outcomes.map((o, i) => `${points[i]}=${o}`).join(' ')}`);
    }
    // One VM pod's run: its own writes (the CID file, the accel cache) besides the runc pod's; a few amounts, each two boots.
    const vmWritten = await rig.measure('runp', 'vm');
    const vmPoints = sweepPoints(vmWritten, rig.root.blockSize, VM_STEPS);
    const vmOutcomes: string[] = [];
    for (const free of vmPoints) {
      const r = await rig.step('runp', rig.root, free, 'vm');
      vmOutcomes.push(r.outcome);
      t.same(r.problems, [], `vm runp with ${free} bytes free on the root (it writes ${vmWritten})`);
    }
    tally.push(`vm runp (writes ${vmWritten} B): ${vmOutcomes.map((o, i) => `${vmPoints[i]}=${o}`).join(' ')}`);
    for (const op of ['runp', 'create'] as const) {
      const r = await rig.step(op, rig.state, 0);
      t.same(r.problems, [], `${op} with the state tmpfs full`);
      tally.push(`${op}, state full: ${r.outcome}`);
    }
    t.comment(tally.join('\n'));
    t.same(await rig.finish(), [], `after removing every pod, nothing is left (${rig.daemon.starts} daemon start)`);
    await rig.dispose();
    t.notOk(rig.root.attached(), 'the loop device is detached');
  });
}
