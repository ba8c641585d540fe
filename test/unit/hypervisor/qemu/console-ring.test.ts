// The console ring's drain (console-ring.ts) against a fake ring: what the
// guest wrote lands in the log, each read is capped, one drain takes at most
// a ring's worth, the file stays under its cap, and stop() leaves no timer.

import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UnavailableError } from '../../../../common/errors';
import { silentLogger } from '../../../../src/log';
import { appendConsole, ConsoleRing, nextDrainDelay } from '../../../../src/hypervisor/qemu/console-ring';
import { QmpCommandError } from '../../../../src/hypervisor/qemu/qmp';

function tmp(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-ring-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A ring of `size` bytes as QEMU keeps it: the newest bytes, read oldest first. */
function fakeRing(size: number): { write: (s: string) => void; read: (n: number) => Promise<Buffer>; reads: number[] } {
  let held = Buffer.alloc(0);
  const reads: number[] = [];
  return {
    reads,
    write: (s) => {
      held = Buffer.concat([held, Buffer.from(s)]);
      if (held.length > size) held = held.subarray(held.length - size);
    },
    read: (n) => {
      reads.push(n);
      const out = held.subarray(0, n);
      held = held.subarray(out.length);
      return Promise.resolve(Buffer.from(out));
    },
  };
}

const ring = (read: (n: number) => Promise<Buffer>, logPath: string, extra: Partial<ConstructorParameters<typeof ConsoleRing>[0]> = {}) =>
  new ConsoleRing({ read, logPath, maxBytes: 1000, keepBytes: 100, ringBytes: 256, readBytes: 64, log: silentLogger, ...extra });

t.test('backoff: soon after output, the longest after a flood, doubling to the maximum while quiet', async (t) => {
  t.equal(nextDrainDelay(1000, 10, 256, 250, 1000), 250, 'output: the minimum again');
  t.equal(nextDrainDelay(250, 256, 256, 250, 1000), 1000, 'a whole ring drained (a flood): the maximum, so a flood costs one ring per maximum');
  t.equal(nextDrainDelay(250, 0, 256, 250, 1000), 500, 'quiet: doubled');
  t.equal(nextDrainDelay(500, 0, 256, 250, 1000), 1000);
  t.equal(nextDrainDelay(1000, 0, 256, 250, 1000), 1000, 'never past the maximum');
});

t.test('a drain moves what the ring holds into the log, in reads of at most readBytes', async (t) => {
  const log = join(tmp(t), 'console.log');
  const r = fakeRing(256);
  r.write('boot line 1\nboot line 2\n');
  const c = ring(r.read, log);
  t.equal(await c.drain(), 24, 'every byte');
  t.equal(readFileSync(log, 'utf8'), 'boot line 1\nboot line 2\n');
  t.equal(statSync(log).mode & 0o777, 0o600, 'the log is the daemon’s alone');
  r.write('x'.repeat(200));
  t.equal(await c.drain(), 200);
  t.same(r.reads.slice(-4), [64, 64, 64, 64], 'capped reads until one comes back short');
  t.equal(await c.drain(), 0, 'an empty ring: nothing');
});

t.test('bytes survive as written (not text)', async (t) => {
  const log = join(tmp(t), 'console.log');
  const bytes = Buffer.from([0, 0xff, 0x1b, 0x5b, 0xc3, 0x28, 10]);
  const c = ring(() => Promise.resolve(bytes), log, { readBytes: 7, ringBytes: 7 });
  await c.drain();
  t.same(readFileSync(log), bytes);
});

t.test('one drain takes at most a ring’s worth, even from a reader that never runs dry', async (t) => {
  const log = join(tmp(t), 'console.log');
  let calls = 0;
  const c = ring(
    (n) => {
      calls++;
      return Promise.resolve(Buffer.alloc(n + 10, 'a')); // more than asked: not believed
    },
    log,
    { maxBytes: 1 << 20 },
  );
  t.equal(await c.drain(), 256, 'stops after the ring size');
  t.equal(calls, 4, 'four reads of 64');
  t.equal(statSync(log).size, 256, 'and wrote no more than it asked for');
});

t.test('a flood keeps the log under its cap, with the newest output', async (t) => {
  const log = join(tmp(t), 'console.log');
  const r = fakeRing(256);
  const c = ring(r.read, log);
  for (let i = 0; i < 200; i++) {
    r.write(`line ${i} ${'y'.repeat(60)}\n`);
    await c.drain();
    t.ok(statSync(log).size <= 1000, `after drain ${i}: ${statSync(log).size} bytes`);
  }
  t.match(readFileSync(log, 'utf8'), /line 199 y+\n$/, 'the newest line is the last');
});

t.test('the log is never written through a symlink', async (t) => {
  const dir = tmp(t);
  const target = join(dir, 'elsewhere');
  writeFileSync(target, 'keep');
  const log = join(dir, 'console.log');
  symlinkSync(target, log);
  t.throws(() => appendConsole(log, Buffer.from('guest')), { code: 'ELOOP' });
  const c = ring(() => Promise.resolve(Buffer.from('guest')), log, { ringBytes: 5, readBytes: 5 });
  t.equal(await c.drain(), 5, 'the drain goes on (the output is dropped)');
  t.equal(readFileSync(target, 'utf8'), 'keep', 'the target is untouched');
});

t.test('a ring that cannot be read (not a ringbuf, QMP gone) stops the drain; a timeout does not', async (t) => {
  const log = join(tmp(t), 'console.log');
  for (const err of [new QmpCommandError('ringbuf-read', 'GenericError', 'not a ringbuf'), new UnavailableError('closed')]) {
    const c = ring(() => Promise.reject(err), log);
    c.start();
    await c.drain();
    t.equal(c.scheduled, false, `${err.constructor.name}: no timer left`);
  }
  const c = ring(() => Promise.reject(new Error('slow')), log, { minDelayMs: 60_000 });
  c.start();
  await c.drain();
  t.equal(c.scheduled, true, 'another error: tried again later');
  c.stop();
  t.equal(c.scheduled, false, 'stop clears the timer');
});

t.test('stop() leaves no timer, also while a drain is in flight', async (t) => {
  const log = join(tmp(t), 'console.log');
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let reads = 0;
  const c = ring(async () => {
    reads++;
    await gate;
    return Buffer.from('z'.repeat(64));
  }, log);
  c.start();
  while (reads === 0) await new Promise((r) => setImmediate(r));
  c.stop();
  release();
  await c.drain();
  t.equal(c.scheduled, false, 'nothing scheduled after the drain in flight ended');
  t.equal(reads, 1, 'and no read after the one in flight');
});
