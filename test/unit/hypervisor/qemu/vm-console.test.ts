// QemuVm and the console ring behind a fake QMP server: the ring is drained
// into the console log while attached; a guest that ends (QEMU waits paused,
// devices/serial-console.ts) has its last output drained before QEMU is
// quit, and keeps its exit reason; a reattached daemon finds a guest that
// ended while it was away and does the same; no drain timer outlives the VM.

import t from 'tap';
import { EventEmitter } from 'node:events';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { QmpClient } from '../../../../src/hypervisor/qemu/qmp';
import { QemuVm } from '../../../../src/hypervisor/qemu/vm';
import { guestEndFromStatus, isGuestEnd } from '../../../../src/hypervisor/qemu/vm-events';
import { answer, liveLaunchRecord, event, fakeQmp, type QmpRequest } from './fake-qmp';
import { trackTimeouts } from '../../../helpers/timer-census';

/** Console-ring timeouts not yet fired or cleared. */
function trackRingTimeouts(t: { teardown(fn: () => void): void }): () => number {
  const census = trackTimeouts(/console-ring/);
  t.teardown(() => census.restore());
  return () => census.live();
}

function fakeChild(): ChildProcess & { exit(): void } {
  const c = new EventEmitter() as unknown as ChildProcess & { exit(): void };
  Object.assign(c, { exitCode: null, signalCode: null, unref: () => undefined });
  c.exit = () => c.emit('exit', 0, null);
  return c;
}

/** A QEMU whose console ring holds `ring`, in run state `status`; quit ends `child` after QEMU's own SHUTDOWN event. */
async function fakeQemu(t: { teardown(fn: () => void): void }, status: string, child?: ChildProcess & { exit(): void }) {
  let ring = Buffer.alloc(0);
  const sent: QmpRequest[] = [];
  let sock: Socket | undefined;
  const { path, dir } = await fakeQmp(t, (m, s) => {
    sock = s;
    sent.push(m);
    if (m.execute === 'query-status') return answer(s, m, { running: status === 'running', status });
    if (m.execute === 'ringbuf-read') {
      const n = Number(m.arguments?.size);
      const out = ring.subarray(0, n);
      ring = ring.subarray(out.length);
      return answer(s, m, out.toString('base64'));
    }
    if (m.execute === 'quit') {
      event(s, 'SHUTDOWN', { guest: false, reason: 'host-qmp-quit' });
      answer(s, m);
      setImmediate(() => child?.exit());
      return;
    }
    answer(s, m);
  });
  const record = liveLaunchRecord(path, dir);
  return {
    record,
    dir,
    sent,
    guestWrites: (s: string) => (ring = Buffer.concat([ring, Buffer.from(s)])),
    emit: (name: string, data: Record<string, unknown>) => sock && event(sock, name, data),
    connect: () => QmpClient.connect(path),
  };
}

t.test('which events and run states are a guest’s own end', async (t) => {
  t.ok(isGuestEnd({ type: 'guest-panicked', detail: 'pause' }));
  t.ok(isGuestEnd({ type: 'shutdown', guestInitiated: true, reason: 'guest-shutdown' }));
  t.ok(isGuestEnd({ type: 'shutdown', guestInitiated: true, reason: 'guest-reset' }), 'a reboot, under -no-reboot');
  t.notOk(isGuestEnd({ type: 'shutdown', guestInitiated: false, reason: 'host-qmp-quit' }), 'our own quit');
  t.notOk(isGuestEnd({ type: 'stop' }));
  t.same(guestEndFromStatus('guest-panicked'), { type: 'guest-panicked', detail: 'pause' });
  t.match(guestEndFromStatus('shutdown'), { type: 'shutdown', guestInitiated: true });
  t.equal(guestEndFromStatus('running'), undefined);
  t.equal(guestEndFromStatus('prelaunch'), undefined);
});

t.test('the console ring is drained into the log while attached; no drain timer is left after detach', async (t) => {
  const live = trackRingTimeouts(t);
  const q = await fakeQemu(t, 'running');
  q.guestWrites('Linux version 6.1\n');
  const vm = new QemuVm(q.dir, q.record, await q.connect(), undefined);
  await vm.drainConsole();
  t.equal(readFileSync(q.record.consoleLog, 'utf8'), 'Linux version 6.1\n', 'what the guest wrote is in the log');
  q.guestWrites('init: ready\n');
  await vm.drainConsole();
  t.match(vm.consoleTail(), /Linux version 6\.1\ninit: ready$/, 'and its tail');
  t.ok(
    q.sent.filter((m) => m.execute === 'ringbuf-read').every((m) => m.arguments?.device === 'console' && m.arguments.format === 'base64' && Number(m.arguments.size) <= 256 * 1024),
    'reads name the console, base64, at most 256 KiB',
  );
  vm.detach();
  t.equal(live(), 0, 'no drain timer after detach');
});

t.test('a guest that panics: its last output is drained before QEMU is quit, and the exit says panic', async (t) => {
  const live = trackRingTimeouts(t);
  const child = fakeChild();
  const q = await fakeQemu(t, 'running', child);
  const vm = new QemuVm(q.dir, q.record, await q.connect(), child);
  await vm.drainConsole();
  q.guestWrites('Kernel panic - not syncing: on purpose\n');
  q.emit('GUEST_PANICKED', { action: 'pause' });
  const exit = await vm.wait();
  t.equal(exit.reason, 'guest-panicked', 'our quit (host-qmp-quit) does not hide the panic');
  t.match(readFileSync(q.record.consoleLog, 'utf8'), /Kernel panic - not syncing: on purpose\n$/, 'the panic is in the log');
  const order = q.sent.map((m) => m.execute).filter((e) => e === 'ringbuf-read' || e === 'quit');
  const quitAt = order.indexOf('quit');
  t.ok(quitAt > 0 && order.slice(0, quitAt).includes('ringbuf-read'), `drained, then quit (${order.join(',')})`);
  t.equal(live(), 0, 'no drain timer after the VM ended');
});

t.test('a guest that powered off while no daemon was attached is drained and quit on reattach', async (t) => {
  const child = fakeChild();
  const q = await fakeQemu(t, 'shutdown', child);
  q.guestWrites('reboot: Power down\n');
  const vm = new QemuVm(q.dir, q.record, await q.connect(), child);
  const exit = await vm.wait();
  t.equal(exit.reason, 'guest-shutdown', 'the run state stands for the guest’s power-off');
  t.equal(readFileSync(q.record.consoleLog, 'utf8'), 'reboot: Power down\n', 'what it printed last is in the log');
  t.ok(
    q.sent.some((m) => m.execute === 'quit'),
    'QEMU was quit',
  );
});
