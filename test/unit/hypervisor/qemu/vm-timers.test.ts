// Nothing of a QemuVm outlives its VM: every removed VM pod used to leave its
// console-cap interval running for the daemon's life (a timer, a closure over
// the logger and the record, and a stat of a deleted file every 5 s). The
// intervals are unreferenced, so process.getActiveResourcesInfo() does not
// list them: the test counts them by wrapping setInterval/clearInterval.

import t from 'tap';
import { EventEmitter } from 'node:events';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LaunchRecord } from '../../../../src/hypervisor/qemu/launch';
import { QemuVm } from '../../../../src/hypervisor/qemu/vm';

/** Intervals created and not yet cleared while `fn` runs (and after it, until restore). */
function trackIntervals(t: { teardown(fn: () => void): void }): () => number {
  const live = new Set<unknown>();
  const realSet = globalThis.setInterval;
  const realClear = globalThis.clearInterval;
  globalThis.setInterval = (...args: Parameters<typeof setInterval>) => {
    const h = realSet(...args);
    live.add(h);
    return h;
  };
  globalThis.clearInterval = (h?: Parameters<typeof clearInterval>[0]) => {
    live.delete(h);
    realClear(h);
  };
  t.teardown(() => {
    globalThis.setInterval = realSet;
    globalThis.clearInterval = realClear;
    for (const h of live) realClear(h as NodeJS.Timeout);
  });
  return () => live.size;
}

function record(dir: string, n: number, pid: number): LaunchRecord {
  const consoleLog = join(dir, `console-${n}.log`);
  writeFileSync(consoleLog, '');
  return { version: 1, id: `pod${n}`, pid, startTime: '1', startedAt: new Date().toISOString(), qmpSocket: join(dir, 'none.sock'), consoleLog, accel: 'tcg' };
}

/** A spawned QEMU as QemuVm sees it: exits when told. */
function fakeChild(): ChildProcess & { exit(): void } {
  const c = new EventEmitter() as unknown as ChildProcess & { exit(): void };
  Object.assign(c, { exitCode: null, signalCode: null, unref: () => undefined });
  c.exit = () => c.emit('exit', 0, null);
  return c;
}

const CYCLES = 20;

t.test(`${CYCLES} VMs this daemon spawned end: none of their timers is left`, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-vm-timers-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const live = trackIntervals(t);
  for (let i = 0; i < CYCLES; i++) {
    const child = fakeChild();
    const vm = new QemuVm(dir, record(dir, i, 999_999_999), undefined, child);
    t.ok(live() >= 1, `cycle ${i}: the console cap runs while the VM does`);
    child.exit();
    t.equal((await vm.wait()).exitCode, 0, `cycle ${i}: exit seen`);
  }
  t.equal(live(), 0, 'no interval left after every VM ended');
});

t.test(`${CYCLES} VMs reattached after a restart end: none of their timers is left`, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-vm-timers-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const live = trackIntervals(t);
  for (let i = 0; i < CYCLES; i++) {
    // Not our child and its PID is not running: the liveness poll finds it gone at once.
    const vm = new QemuVm(dir, record(dir, i, 999_999_999), undefined, undefined);
    t.equal((await vm.wait()).reason, 'unknown', `cycle ${i}: found gone`);
  }
  t.equal(live(), 0, 'no interval left (neither the liveness poll nor the console cap)');
});

t.test('a console that grew past its cap while the VM ran is capped once more when it ends', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-vm-timers-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const rec = record(dir, 0, 999_999_999);
  const child = fakeChild();
  const vm = new QemuVm(dir, rec, undefined, child, { consoleMaxBytes: 1000, consoleKeepBytes: 100 });
  writeFileSync(rec.consoleLog, 'x'.repeat(5000));
  child.exit();
  await vm.wait();
  const { size } = await import('node:fs').then((fs) => fs.statSync(rec.consoleLog));
  t.ok(size < 1000, `capped at the end (${size} bytes)`);
});
