// QemuVm's device calls against a fake QMP server: what reaches QEMU, what
// is recorded in the run dir (so a restarted daemon can remove a device),
// and the refusals that send nothing.

import t from 'tap';
import { existsSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AlreadyExistsError, InvalidArgumentError, NotFoundError, UnavailableError } from '../../../../common/errors';
import { DeviceHotplugError } from '../../../../src/hypervisor/qemu/hotplug';
import { QmpClient } from '../../../../src/hypervisor/qemu/qmp';
import { QemuVm } from '../../../../src/hypervisor/qemu/vm';
import type { VmDevice } from '../../../../src/hypervisor/vm-device';
import { answer, liveLaunchRecord, event, fakeQmp, refuse, type QmpRequest } from './fake-qmp';

const NIC: VmDevice = { kind: 'net', id: 'eth1', mac: '02:00:00:00:00:11', tap: { ifname: 'tap1' } };
const PORT: VmDevice = { kind: 'serial-port', id: 'agent1', socketPath: '/run/x/agent1.sock', name: 'vmpod.agent' };

/** A QemuVm whose "QEMU" is this test process (alive, same start time) behind a fake QMP server. */
async function vmWithFakeQmp(t: { teardown(fn: () => void): void }, refuseCommand?: string) {
  const sent: QmpRequest[] = [];
  const { path, dir } = await fakeQmp(t, (m, s) => {
    // The console drain and the attach-time status check are not device work.
    if (m.execute === 'ringbuf-read') return answer(s, m, '');
    if (m.execute === 'query-status') return answer(s, m, { running: true, status: 'running' });
    sent.push(m);
    if (m.execute === refuseCommand) return refuse(s, m, 'GenericError', `${m.execute} refused`);
    if (m.execute === 'device_del') event(s, 'DEVICE_DELETED', { device: m.arguments?.id });
    answer(s, m);
  });
  const record = liveLaunchRecord(path, dir);
  const open = async (): Promise<QemuVm> => {
    const vm = new QemuVm(dir, record, await QmpClient.connect(path), undefined);
    t.teardown(() => vm.detach());
    return vm;
  };
  return { vm: await open(), open, sent, dir };
}

t.test('a device added is in devices() and in the run dir; removed, it is gone from both', async (t) => {
  const { vm, sent, dir } = await vmWithFakeQmp(t);
  await vm.addDevice(NIC);
  t.same(
    sent.map((m) => m.execute),
    ['netdev_add', 'device_add'],
  );
  t.same(vm.devices(), [NIC]);
  t.same(JSON.parse(readFileSync(join(dir, 'devices.json'), 'utf8')), { version: 1, devices: [NIC] }, 'recorded, versioned');
  await vm.removeDevice('eth1');
  t.same(
    sent.map((m) => m.execute),
    ['netdev_add', 'device_add', 'device_del', 'netdev_del'],
  );
  t.same(vm.devices(), []);
  t.same((JSON.parse(readFileSync(join(dir, 'devices.json'), 'utf8')) as { devices: unknown[] }).devices, []);
});

t.test('a restarted daemon removes a device an earlier one added', async (t) => {
  const { vm, open, sent } = await vmWithFakeQmp(t);
  await vm.addDevice(PORT);
  vm.detach();
  const again = await open();
  t.same(again.devices(), [PORT], 'known from the record');
  await again.removeDevice('agent1');
  t.same(
    sent.slice(-2).map((m) => [m.execute, m.arguments]),
    [
      ['device_del', { id: 'agent1' }],
      ['chardev-remove', { id: 'agent1-chr' }],
    ],
    'the backend of its kind is deleted',
  );
});

t.test('refusals that send nothing to QEMU', async (t) => {
  const { vm, sent, dir } = await vmWithFakeQmp(t);
  await vm.addDevice(NIC);
  const n = sent.length;
  await t.rejects(vm.addDevice({ ...NIC, mac: '02:00:00:00:00:12' }), AlreadyExistsError, 'a second device with the same id');
  await t.rejects(vm.removeDevice('nope'), NotFoundError, 'removing an id never added');
  const fd = openSync(join(dir, 'not-a-tap'), 'w');
  await t.rejects(vm.addDevice({ ...NIC, id: 'eth2', mac: 'ff:ff:ff:ff:ff:ff', tap: { fd } }), InvalidArgumentError, 'an invalid device');
  t.throws(() => fstatSync(fd), /EBADF/, 'the tap fd handed over is closed even when refused');
  t.equal(sent.length, n, 'nothing sent');
});

t.test('a failed hot-plug leaves no record and keeps the VM usable', async (t) => {
  const { vm, sent, dir } = await vmWithFakeQmp(t, 'device_add');
  await t.rejects(vm.addDevice(NIC), DeviceHotplugError);
  t.same(
    sent.map((m) => m.execute),
    ['netdev_add', 'device_add', 'netdev_del'],
    'the netdev was taken back',
  );
  t.same(vm.devices(), []);
  t.notOk(existsSync(join(dir, 'devices.json')), 'nothing recorded');
});

t.test('device calls run one at a time, in call order', async (t) => {
  const { vm, sent } = await vmWithFakeQmp(t);
  await Promise.all([vm.addDevice(NIC), vm.addDevice(PORT), vm.removeDevice('eth1')]);
  t.same(
    sent.map((m) => m.execute),
    ['netdev_add', 'device_add', 'chardev-add', 'device_add', 'device_del', 'netdev_del'],
    'no interleaving',
  );
  t.same(vm.devices(), [PORT]);
});

t.test('start and resume send cont; without a QMP connection they are UnavailableError', async (t) => {
  const { vm, sent, open } = await vmWithFakeQmp(t);
  await vm.start();
  await vm.resume();
  t.same(
    sent.map((m) => m.execute),
    ['cont', 'cont'],
  );
  const other = await open();
  other.detach();
  await t.rejects(other.start(), UnavailableError);
  await t.rejects(other.addDevice(PORT), UnavailableError);
});
