// The balloon's guest figures are the guest's word: parseBalloonStats keeps
// only what makes sense against the VM's RAM and drops a stale report; a
// QemuVm asks QEMU for them only when it was started with them, and any
// failure leaves the caller with nothing rather than an error.

import t from 'tap';
import { EventEmitter } from 'node:events';
import type { ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import { parseBalloonStats } from '../../../../src/hypervisor/qemu/balloon-stats';
import { QmpClient } from '../../../../src/hypervisor/qemu/qmp';
import { QemuVm } from '../../../../src/hypervisor/qemu/vm';
import { answer, liveLaunchRecord, fakeQmp, refuse, type QmpRequest } from './fake-qmp';

const MIB = 1024 * 1024;
const NOW = 1_800_000_000_000;
const limits = { ramBytes: 1024 * MIB, intervalS: 5, nowMs: NOW };
/** QEMU's "the guest did not send this figure" (2^64-1), as JSON.parse reads it off the QMP socket. */
const NOT_SENT = JSON.parse('18446744073709551615') as number;

const stats = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  'stat-total-memory': 990 * MIB,
  'stat-free-memory': 700 * MIB,
  'stat-available-memory': 850 * MIB,
  'stat-disk-caches': 120 * MIB,
  'stat-minor-faults': 123456,
  'stat-major-faults': 789,
  'stat-swap-in': NOT_SENT,
  ...over,
});
const reply = (s: Record<string, unknown>, lastUpdateS = NOW / 1000 - 2): unknown => ({ stats: s, 'last-update': lastUpdateS });

t.test('a sane report is taken whole', async (t) => {
  t.same(parseBalloonStats(reply(stats()), limits), {
    at: NOW - 2000,
    totalBytes: 990 * MIB,
    freeBytes: 700 * MIB,
    availableBytes: 850 * MIB,
    diskCachesBytes: 120 * MIB,
    minorFaults: 123456,
    majorFaults: 789,
  });
});

t.test('no report yet, or a stale one: nothing', async (t) => {
  t.equal(parseBalloonStats(reply(stats(), 0), limits), undefined, 'last-update 0: the guest has not answered yet');
  t.equal(parseBalloonStats(reply(stats(), NOW / 1000 - 16), limits), undefined, 'older than three intervals (and 15 s): the driver stopped answering');
  t.ok(parseBalloonStats(reply(stats(), NOW / 1000 - 14), limits), 'within 15 s it still counts');
  t.ok(parseBalloonStats(reply(stats(), NOW / 1000 - 100), { ...limits, intervalS: 60 }), 'a long interval allows an older report');
});

t.test('total and free must make sense, or the report is dropped', async (t) => {
  const bad: Array<[string, Record<string, unknown>]> = [
    ['total not sent', { 'stat-total-memory': NOT_SENT }],
    ['total beyond the VM RAM', { 'stat-total-memory': 1025 * MIB }],
    ['total 0', { 'stat-total-memory': 0 }],
    ['total negative', { 'stat-total-memory': -1 }],
    ['total a string', { 'stat-total-memory': '990' }],
    ['total fractional', { 'stat-total-memory': 1.5 }],
    ['free beyond total', { 'stat-free-memory': 991 * MIB }],
    ['free not sent', { 'stat-free-memory': NOT_SENT }],
  ];
  for (const [what, over] of bad) t.equal(parseBalloonStats(reply(stats(over)), limits), undefined, what);
  for (const junk of [null, 'x', 5, [], { stats: null, 'last-update': NOW / 1000 }, { stats: stats() }, { stats: stats(), 'last-update': 'now' }])
    t.equal(parseBalloonStats(junk, limits), undefined, `junk reply ${JSON.stringify(junk)?.slice(0, 40)}`);
});

t.test('an optional figure that makes no sense is dropped on its own', async (t) => {
  const got = parseBalloonStats(reply(stats({ 'stat-available-memory': 2000 * MIB, 'stat-disk-caches': NOT_SENT, 'stat-minor-faults': -5, 'stat-major-faults': 'many' })), limits);
  t.same(got, { at: NOW - 2000, totalBytes: 990 * MIB, freeBytes: 700 * MIB });
});

function fakeChild(): ChildProcess {
  const c = new EventEmitter() as unknown as ChildProcess;
  Object.assign(c, { exitCode: null, signalCode: null, unref: () => undefined });
  return c;
}

async function vmWith(t: { teardown(fn: () => void): void }, guestStatsIntervalS: number | undefined, answerStats: (m: QmpRequest, s: Socket) => void) {
  const sent: QmpRequest[] = [];
  const { path, dir } = await fakeQmp(t, (m, s) => {
    sent.push(m);
    if (m.execute === 'query-status') return answer(s, m, { running: true, status: 'running' });
    if (m.execute === 'qom-get') return answerStats(m, s);
    answer(s, m);
  });
  const record = liveLaunchRecord(path, dir, { memoryMib: 1024, ...(guestStatsIntervalS !== undefined ? { guestStatsIntervalS } : {}) });
  const vm = new QemuVm(dir, record, await QmpClient.connect(path), fakeChild());
  t.teardown(() => vm.detach());
  return { vm, sent };
}

t.test('QemuVm.guestMemory asks the balloon of a VM started with guest figures', async (t) => {
  const { vm, sent } = await vmWith(t, 5, (m, s) => answer(s, m, reply(stats(), Math.floor(Date.now() / 1000))));
  const g = await vm.guestMemory();
  t.equal(g?.totalBytes, 990 * MIB, 'the figures come back checked');
  const q = sent.find((m) => m.execute === 'qom-get');
  t.same(q?.arguments, { path: '/machine/peripheral/balloon0', property: 'guest-stats' }, 'read from the balloon device');
});

t.test('QemuVm.guestMemory: none without them, none on a QMP error', async (t) => {
  const without = await vmWith(t, undefined, (m, s) => answer(s, m, reply(stats())));
  t.equal(await without.vm.guestMemory(), undefined, 'a VM started without guest figures has none');
  t.notOk(
    without.sent.some((m) => m.execute === 'qom-get'),
    'and QEMU is not asked',
  );
  const failing = await vmWith(t, 5, (m, s) => refuse(s, m, 'DeviceNotFound', "Device 'balloon0' not found"));
  t.equal(await failing.vm.guestMemory(), undefined, 'a QMP error leaves nothing, not an error');
});
