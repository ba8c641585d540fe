// Atomic writes and their removal: a daemon SIGKILLed between a temp file's
// open and its rename leaves the temp beside the target; removing the target
// removes such temps too (a CNI cache entry's temp outlived its pod in the
// fault-injection harness, test/fault).

import t from 'tap';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isTempName, readJson, removeAtomic, writeJsonAtomic } from '../../../src/store/atomic';

t.test('removeAtomic removes the file and the temps killed writes of it left, nothing else', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-atomic-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeJsonAtomic(join(dir, 'p1.json'), { a: 1 });
  writeFileSync(join(dir, '.p1.json.tmp-4242'), '{"a":');
  writeFileSync(join(dir, '.p10.json.tmp-4242'), '{');
  writeJsonAtomic(join(dir, 'p2.json'), { b: 2 });
  t.ok(isTempName('.p1.json.tmp-4242'), 'the leftover is named as writeFileAtomic names its temps');
  removeAtomic(join(dir, 'p1.json'));
  t.same(readdirSync(dir).sort(), ['.p10.json.tmp-4242', 'p2.json'], "p1 and its temp are gone; another entry's temp and entry stay");
  removeAtomic(join(dir, 'p1.json'));
  removeAtomic(join(dir, 'nodir', 'p1.json'));
  t.notOk(existsSync(join(dir, 'p1.json')), 'removing again, or in a missing directory, is fine');
});

t.test('a write without fsync (durable: false) still replaces the file whole and leaves no temp', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-atomic-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const p = join(dir, 'c1.json');
  writeJsonAtomic(p, { state: 'creating' }, { durable: false });
  t.same(readJson(p), { state: 'creating' });
  writeJsonAtomic(p, { state: 'created' });
  t.same(readJson(p), { state: 'created' }, 'the durable write that completes it replaces it');
  t.same(readdirSync(dir), ['c1.json'], 'no temp file left by either');
});
