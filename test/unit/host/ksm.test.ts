import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ksmState, memoryMergeDecision } from '../../../src/host/ksm';

t.test("the host's KSM state from its run file", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ksm-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const run = join(dir, 'run');
  writeFileSync(run, '1\n');
  t.equal(ksmState(run), 'running');
  writeFileSync(run, '0\n');
  t.equal(ksmState(run), 'stopped');
  writeFileSync(run, '2\n');
  t.equal(ksmState(run), 'stopped', '2: stopped, merged pages unmerged');
  t.equal(ksmState(join(dir, 'missing')), 'absent', 'no file: a kernel without KSM');
});

t.test('memory merge: off says so; on warns unless KSM runs', async (t) => {
  const off = memoryMergeDecision('vm', false, 'running');
  t.match(off.line, /^vm memory merge: off \(config memory_merge = false; QEMU mem-merge=off/);
  t.notOk(off.warn, 'off is the safe default, nothing to warn about');
  const on = memoryMergeDecision('vm', true, 'running');
  t.match(on.line, /on \(config memory_merge = true; the host's KSM is running\)/);
  t.notOk(on.warn);
  const stopped = memoryMergeDecision('vm', true, 'stopped');
  t.match(stopped.line, /nothing is merged .*KSM is stopped \(\/sys\/kernel\/mm\/ksm\/run is not 1\)/);
  t.ok(stopped.warn, 'asked for and without effect: warned');
  t.match(memoryMergeDecision('vm', true, 'absent').line, /this kernel has no KSM/);
});
