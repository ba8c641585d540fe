// A VM whose console is a socket (VM-image pods): no ring, so the handle
// never reads one over QMP and keeps no console tail; a guest power-off
// still ends QEMU at once (the daemon quits the paused QEMU) with the
// guest's reason, also when it happened while no daemon was attached; the
// sockets are on the handle, from the launch record.

import t from 'tap';
import { EventEmitter } from 'node:events';
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import { QmpClient } from '../../../../src/hypervisor/qemu/qmp';
import { QemuVm } from '../../../../src/hypervisor/qemu/vm';
import { answer, liveLaunchRecord, event, fakeQmp, type QmpRequest } from './fake-qmp';

function fakeChild(): ChildProcess & { exit(): void } {
  const c = new EventEmitter() as unknown as ChildProcess & { exit(): void };
  Object.assign(c, { exitCode: null, signalCode: null, unref: () => undefined });
  c.exit = () => c.emit('exit', 0, null);
  return c;
}

async function fakeQemu(t: { teardown(fn: () => void): void }, status: string, child: ChildProcess & { exit(): void }) {
  const sent: QmpRequest[] = [];
  let sock: Socket | undefined;
  const { path, dir } = await fakeQmp(t, (m, s) => {
    sock = s;
    sent.push(m);
    if (m.execute === 'query-status') return answer(s, m, { running: status === 'running', status });
    if (m.execute === 'quit') {
      event(s, 'SHUTDOWN', { guest: false, reason: 'host-qmp-quit' });
      answer(s, m);
      // Later than the client reads the event (same process: setImmediate could beat it).
      setTimeout(() => child.exit(), 20);
      return;
    }
    answer(s, m);
  });
  const record = liveLaunchRecord(path, dir, { consoleSocket: join(dir, 'console.sock'), guestAgentSocket: join(dir, 'qga.sock') });
  return { record, dir, sent, emit: (name: string, data: Record<string, unknown>) => sock && event(sock, name, data), connect: () => QmpClient.connect(path) };
}

t.test('no ring read, no console tail; the sockets are on the handle', async (t) => {
  const child = fakeChild();
  const q = await fakeQemu(t, 'running', child);
  // Something at the log's name (a leftover) is not this VM's console.
  writeFileSync(q.record.consoleLog, 'stale ring output\n');
  const vm = new QemuVm(q.dir, q.record, await q.connect(), child);
  await vm.drainConsole();
  t.equal(vm.consoleTail(), '', 'the socket’s reader keeps the tail, not the handle');
  t.equal(vm.consoleSocket, q.record.consoleSocket);
  t.equal(vm.guestAgentSocket, q.record.guestAgentSocket);
  t.equal(vm.agentSocket, undefined, 'no vmpod agent');
  t.equal(vm.cid, undefined);
  await vm.status();
  t.notOk(
    q.sent.some((m) => m.execute === 'ringbuf-read'),
    `no ringbuf-read (${q.sent.map((m) => m.execute).join(',')})`,
  );
  vm.detach();
});

t.test('a guest power-off ends QEMU at once, reason guest-shutdown', async (t) => {
  const child = fakeChild();
  const q = await fakeQemu(t, 'running', child);
  const vm = new QemuVm(q.dir, q.record, await q.connect(), child);
  t.equal(await vm.status(), 'running');
  const t0 = Date.now();
  q.emit('SHUTDOWN', { guest: true, reason: 'guest-shutdown' });
  const exit = await vm.wait();
  t.equal(exit.reason, 'guest-shutdown');
  t.ok(Date.now() - t0 < 1000, `quit without waiting for a drain (${Date.now() - t0} ms)`);
  t.ok(q.sent.some((m) => m.execute === 'quit'));
});

t.test('a guest that powered off while no daemon was attached is quit on reattach', async (t) => {
  const child = fakeChild();
  const q = await fakeQemu(t, 'shutdown', child);
  const vm = new QemuVm(q.dir, q.record, await q.connect(), child);
  const exit = await vm.wait();
  t.equal(exit.reason, 'guest-shutdown');
  t.ok(q.sent.some((m) => m.execute === 'quit'));
});

t.test('stop: the power button pressed once, or again every powerButtonRepeatMs during the grace', async (t) => {
  const presses = async (repeat?: number): Promise<number> => {
    const child = fakeChild();
    const q = await fakeQemu(t, 'running', child);
    const vm = new QemuVm(q.dir, q.record, await q.connect(), child);
    const exit = await vm.stop({ gracefulTimeoutMs: 450, quitTimeoutMs: 1000, ...(repeat !== undefined ? { powerButtonRepeatMs: repeat } : {}) });
    t.equal(exit.reason, 'host-quit', `a guest that ignores the button is quit after the grace (${exit.reason})`);
    return q.sent.filter((m) => m.execute === 'system_powerdown').length;
  };
  t.equal(await presses(), 1, 'once by default (microvm pods)');
  const n = await presses(100);
  t.ok(n >= 2 && n <= 5, `pressed again, about every 100 ms of the 450 ms grace (${n} presses)`);
});
