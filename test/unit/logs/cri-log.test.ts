import t from 'tap';
import { mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CriLogWriter, formatRecord, LineSplitter, LOG_QUEUE_HIGH_WATER, rfc3339Nano } from '../../../src/logs/cri-log';

t.test('RFC3339Nano timestamps', async (t) => {
  const cases: [string, number, number, string][] = [
    ['whole second', Date.UTC(2026, 10, 22, 3, 15, 6), 0, '2026-11-22T03:15:06.000000000Z'],
    ['milliseconds and nanoseconds', Date.UTC(2026, 10, 22, 3, 15, 6, 123), 456789, '2026-11-22T03:15:06.123456789Z'],
    ['out-of-range nanos clamp', Date.UTC(2026, 0, 1), 5_000_000, '2026-01-01T00:00:00.000999999Z'],
  ];
  for (const [desc, ms, ns, want] of cases) t.equal(rfc3339Nano(ms, ns), want, desc);
});

t.test('record format', async (t) => {
  t.equal(formatRecord('T', 'stderr', 'P', 'abc').toString(), 'T stderr P abc\n');
});

t.test('line splitting', async (t) => {
  const cases: { desc: string; chunks: string[]; max?: number; want: string[]; pending: number }[] = [
    { desc: 'one full line', chunks: ['hello\n'], want: ['F hello'], pending: 0 },
    { desc: 'two lines in one chunk', chunks: ['a\nb\n'], want: ['F a', 'F b'], pending: 0 },
    { desc: 'line across chunks is one record', chunks: ['ab', 'c\n'], want: ['F abc'], pending: 0 },
    { desc: 'trailing partial is held', chunks: ['a\nbc'], want: ['F a'], pending: 2 },
    { desc: 'empty line', chunks: ['\n'], want: ['F '], pending: 0 },
    { desc: 'long line cut into P pieces', chunks: ['abcdefg\n'], max: 3, want: ['P abc', 'P def', 'F g'], pending: 0 },
    { desc: 'long partial cut without waiting for newline', chunks: ['abcdefg'], max: 3, want: ['P abc', 'P def'], pending: 1 },
  ];
  for (const c of cases) {
    const s = new LineSplitter(c.max ?? 16384);
    const got = c.chunks.flatMap((ch) => s.push(Buffer.from(ch))).map((p) => `${p.tag} ${p.text.toString()}`);
    t.same(got, c.want, c.desc);
    t.equal(s.pendingBytes, c.pending, `${c.desc}: pending bytes`);
  }
  const s = new LineSplitter();
  s.push(Buffer.from('tail'));
  t.same(
    s.flush().map((p) => `${p.tag} ${p.text.toString()}`),
    ['P tail'],
    'flush writes the held partial as P',
  );
  t.same(s.flush(), [], 'nothing left after flush');
});

t.test('writer: streams, partial at close, reopen after rotation', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-crilog-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'sub', 'c.log');
  const errors: Error[] = [];
  const w = new CriLogWriter(path, { now: () => [Date.UTC(2026, 0, 1), 1], onError: (e) => errors.push(e) });
  w.write('stdout', 'out1\nout');
  w.write('stderr', 'err1\n');
  w.write('stdout', '2\n');
  await w.reopen(); // nothing rotated yet: same file
  renameSync(path, `${path}.1`);
  w.write('stdout', 'after rotate\n');
  await w.reopen();
  w.write('stdout', 'new file\nno newline');
  await w.close();
  w.write('stdout', 'ignored after close\n');
  const T = '2026-01-01T00:00:00.000000001Z';
  t.equal(readFileSync(`${path}.1`, 'utf8'), `${T} stdout F out1\n${T} stderr F err1\n${T} stdout F out2\n${T} stdout F after rotate\n`, 'records before reopen stay in the rotated file');
  t.equal(readFileSync(path, 'utf8'), `${T} stdout F new file\n${T} stdout P no newline\n`, 'reopened file gets the rest; close writes the partial as P');
  t.same(errors, [], 'no write errors');
});

t.test('writer: open() makes the file and its directory before any output (crictl logs right after start found none)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-crilog-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'pod-logs', 'c.log');
  const w = new CriLogWriter(path);
  await w.open();
  t.equal(readFileSync(path, 'utf8'), '', 'an empty log file exists at once');
  t.equal(statSync(join(dir, 'pod-logs')).mode & 0o777, 0o755, 'its directory is 0755, as containerd makes it');
  await w.open();
  w.write('stdout', 'x\n');
  await w.close();
  t.match(readFileSync(path, 'utf8'), / stdout F x\n$/, 'a second open() is a no-op; records follow in the same file');
});

t.test('writer: reopen() resolves once the new file exists (critest renames the log and checks at once)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-crilog-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'c.log');
  const w = new CriLogWriter(path);
  w.write('stdout', 'before\n');
  await w.open();
  renameSync(path, `${path}.1`);
  await w.reopen();
  t.equal(readFileSync(path, 'utf8'), '', 'the new file exists before any record is written to it');
  rmSync(dir, { recursive: true, force: true });
  writeFileSync(dir, 'not a directory any more');
  await t.rejects(w.reopen(), /ENOTDIR|EEXIST/, 'a reopen that cannot make the file rejects');
  await w.close();
  await t.rejects(w.reopen(), /closed/, 'reopen after close rejects');
  rmSync(dir, { force: true });
});

t.test('writer: partial-flush timer writes a prompt without a newline', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-crilog-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'c.log');
  const w = new CriLogWriter(path, { partialFlushMs: 20 });
  w.write('stdout', 'Password: ');
  await new Promise((r) => setTimeout(r, 200));
  await w.reopen(); // a barrier: everything queued before is written
  t.match(readFileSync(path, 'utf8'), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z stdout P Password: \n$/, 'prompt written as P');
  await w.close();
});

t.test('writer: an unwritable path reports an error instead of throwing', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-crilog-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const notADir = join(dir, 'file');
  writeFileSync(notADir, '');
  const errors: Error[] = [];
  const w = new CriLogWriter(join(notADir, 'c.log'), { onError: (e) => errors.push(e) });
  t.doesNotThrow(() => w.write('stdout', 'x\n'));
  await w.close();
  t.ok(errors.length > 0, 'error reported');
});

t.test('writer: writable() holds a producer back while more than the high-water mark waits for the disk', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-crilog-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'c.log');
  const w = new CriLogWriter(path);
  t.equal(await Promise.race([w.writable().then(() => 'ready'), new Promise((r) => setImmediate(() => r('held')))]), 'ready', 'an empty queue is writable at once');
  const line = `${'x'.repeat(1023)}\n`;
  w.write('stdout', line.repeat(LOG_QUEUE_HIGH_WATER / 1024 + 1024)); // 9 MiB of lines in one go
  let ready = false;
  const p = w.writable().then(() => (ready = true));
  await new Promise((r) => setImmediate(r));
  t.notOk(ready, 'held back while 9 MiB are queued');
  await p;
  t.ok(statSync(path).size >= LOG_QUEUE_HIGH_WATER, 'released once most of it is on disk');
  await w.close();
  t.equal(statSync(path).size, (LOG_QUEUE_HIGH_WATER / 1024 + 1024) * (1024 + '2026-01-01T00:00:00.000000000Z stdout F '.length), 'every record written, none lost');
});
