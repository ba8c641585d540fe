import t from 'tap';
import { appendFileSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { capConsoleLog } from '../../../../src/hypervisor/qemu/console-log';

function tmp(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-console-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

t.test('a log under the cap is left alone', async (t) => {
  const f = join(tmp(t), 'c.log');
  writeFileSync(f, 'hello\n');
  t.equal(capConsoleLog(f, 100, 10), false);
  t.equal(readFileSync(f, 'utf8'), 'hello\n');
});

t.test('a missing log is not an error', async (t) => {
  t.equal(capConsoleLog(join(tmp(t), 'none.log'), 1, 1), false);
});

t.test('an over-cap log keeps its tail behind a marker', async (t) => {
  const f = join(tmp(t), 'c.log');
  writeFileSync(f, 'a'.repeat(1000) + 'THE-END');
  t.equal(capConsoleLog(f, 500, 20), true);
  const s = readFileSync(f, 'utf8');
  t.ok(s.endsWith('a'.repeat(13) + 'THE-END'), 'tail kept');
  t.match(s, /console log truncated/);
  t.ok(statSync(f).size < 100);
});

t.test('a writer holding the file O_APPEND (as QEMU does) keeps appending at the new end', async (t) => {
  const f = join(tmp(t), 'c.log');
  const fd = openSync(f, 'a');
  t.teardown(() => closeSync(fd));
  writeSync(fd, 'x'.repeat(2000));
  t.equal(capConsoleLog(f, 1000, 10), true);
  writeSync(fd, 'NEXT');
  appendFileSync(f, '');
  const s = readFileSync(f, 'utf8');
  t.ok(s.endsWith('x'.repeat(10) + 'NEXT'), 'no hole, no overwrite: the next write follows the kept tail');
  t.notMatch(s, /\0/, 'no sparse zeros');
});
