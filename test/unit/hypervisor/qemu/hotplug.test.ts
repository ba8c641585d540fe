// Hot-plug as QMP: the exact commands each device kind sends, in order, and
// what the runner does when one fails (undo what was done, newest first),
// when QEMU no longer knows an object (counts as removed) and when the
// guest never releases a device (DEVICE_DELETED times out).

import t from 'tap';
import { hotplugPlan, type HotplugDevice } from '../../../../src/hypervisor/qemu/devices';
import { DeviceHotplugError, plugDevice, qemuDevice, unplugDevice, type QmpPort } from '../../../../src/hypervisor/qemu/hotplug';
import { QmpCommandError, type EventWait, type QmpEvent } from '../../../../src/hypervisor/qemu/qmp';
import type { VmDevice } from '../../../../src/hypervisor/vm-device';
import { DeadlineExceededError, UnavailableError } from '../../../../common/errors';
import { silentLogger } from '../../../../src/log';

type Sent = { execute: string; arguments?: Record<string, unknown>; fd?: number };

const plans: Array<{ desc: string; device: HotplugDevice; plug: Sent[]; unplug: Sent[] }> = [
  {
    desc: 'tap by name: QEMU opens it in its netns, then the NIC',
    device: { kind: 'tap-net', id: 'eth1', tap: { ifname: 'tap1' }, mac: '02:00:00:00:00:11', vhost: false },
    plug: [
      { execute: 'netdev_add', arguments: { type: 'tap', id: 'eth1-tap', ifname: 'tap1', script: 'no', downscript: 'no', vhost: false } },
      { execute: 'device_add', arguments: { driver: 'virtio-net-pci', id: 'eth1', netdev: 'eth1-tap', mac: '02:00:00:00:00:11' } },
    ],
    unplug: [
      { execute: 'device_del', arguments: { id: 'eth1' } },
      { execute: 'netdev_del', arguments: { id: 'eth1-tap' } },
    ],
  },
  {
    desc: 'tap fd: getfd with the fd attached, the netdev takes it by name, then the NIC',
    device: { kind: 'tap-net', id: 'eth1', tap: { fd: 42 }, mac: '02:00:00:00:00:11', vhost: true },
    plug: [
      { execute: 'getfd', arguments: { fdname: 'eth1-fd' }, fd: 42 },
      { execute: 'netdev_add', arguments: { type: 'tap', id: 'eth1-tap', fd: 'eth1-fd', vhost: true } },
      { execute: 'device_add', arguments: { driver: 'virtio-net-pci', id: 'eth1', netdev: 'eth1-tap', mac: '02:00:00:00:00:11' } },
    ],
    unplug: [
      { execute: 'device_del', arguments: { id: 'eth1' } },
      { execute: 'netdev_del', arguments: { id: 'eth1-tap' } },
    ],
  },
  {
    desc: 'vsock: one device, no backend',
    device: { kind: 'vsock', id: 'vsock1', cid: 1234 },
    plug: [{ execute: 'device_add', arguments: { driver: 'vhost-vsock-pci', id: 'vsock1', 'guest-cid': 1234 } }],
    unplug: [{ execute: 'device_del', arguments: { id: 'vsock1' } }],
  },
  {
    desc: 'block: the format node with its file node inline, then the disk',
    device: { kind: 'virtio-blk', id: 'disk0', path: '/img/disk.raw', format: 'raw', readOnly: true },
    plug: [
      { execute: 'blockdev-add', arguments: { driver: 'raw', 'node-name': 'disk0-blk', 'read-only': true, file: { driver: 'file', filename: '/img/disk.raw', 'read-only': true } } },
      { execute: 'device_add', arguments: { driver: 'virtio-blk-pci', id: 'disk0', drive: 'disk0-blk' } },
    ],
    unplug: [
      { execute: 'device_del', arguments: { id: 'disk0' } },
      { execute: 'blockdev-del', arguments: { 'node-name': 'disk0-blk' } },
    ],
  },
  {
    desc: 'serial port: a listening socket chardev, then the port on the controller',
    device: { kind: 'virtio-serial-port', id: 'agent1', socketPath: '/run/a.sock', name: 'vmpod.agent', bus: 'ser0.0' },
    plug: [
      { execute: 'chardev-add', arguments: { id: 'agent1-chr', backend: { type: 'socket', data: { addr: { type: 'unix', data: { path: '/run/a.sock' } }, server: true, wait: false } } } },
      { execute: 'device_add', arguments: { driver: 'virtserialport', id: 'agent1', bus: 'ser0.0', chardev: 'agent1-chr', name: 'vmpod.agent' } },
    ],
    unplug: [
      { execute: 'device_del', arguments: { id: 'agent1' } },
      { execute: 'chardev-remove', arguments: { id: 'agent1-chr' } },
    ],
  },
];

/**
 * A QMP port that records what is sent, answers from `fail` (command →
 * error class) and emits DEVICE_DELETED for every device_del unless
 * `guestKeeps`.
 */
function fakeQmp(opts: { fail?: Record<string, string>; guestKeeps?: boolean; eventBeforeReply?: boolean } = {}) {
  const sent: Sent[] = [];
  const waits: Array<{ match: (e: QmpEvent) => boolean; resolve(e: QmpEvent): void; reject(e: Error): void; timer: NodeJS.Timeout }> = [];
  const emit = (e: QmpEvent): void => {
    for (const w of [...waits]) {
      if (!w.match(e)) continue;
      clearTimeout(w.timer);
      waits.splice(waits.indexOf(w), 1);
      w.resolve(e);
    }
  };
  const reply = async (execute: string, args?: Record<string, unknown>): Promise<unknown> => {
    const cls = opts.fail?.[execute];
    if (cls) throw new QmpCommandError(execute, cls, `${execute} refused`);
    if (execute === 'device_del' && !opts.guestKeeps) {
      const ev = { event: 'DEVICE_DELETED', data: { device: args?.id, path: `/machine/peripheral/${String(args?.id)}` }, timestamp: 0 };
      if (opts.eventBeforeReply) emit(ev);
      else setTimeout(() => emit(ev), 5);
    }
    return {};
  };
  const port: QmpPort = {
    execute: (async (execute: string, args?: Record<string, unknown>) => {
      sent.push(args === undefined ? { execute } : { execute, arguments: args });
      return reply(execute, args);
    }) as QmpPort['execute'],
    executeWithFd: (async (execute: string, args: Record<string, unknown>, fd: number) => {
      sent.push({ execute, arguments: args, fd });
      return reply(execute, args);
    }) as QmpPort['executeWithFd'],
    waitForEvent(match: (e: QmpEvent) => boolean, timeoutMs: number): EventWait {
      let cancel = (): void => undefined;
      const event = new Promise<QmpEvent>((resolve, reject) => {
        const w = { match, resolve, reject, timer: setTimeout(() => reject(new DeadlineExceededError(`no event within ${timeoutMs} ms`)), timeoutMs) };
        waits.push(w);
        cancel = () => {
          clearTimeout(w.timer);
          const i = waits.indexOf(w);
          if (i >= 0) waits.splice(i, 1);
        };
      });
      event.catch(() => undefined);
      return { event, cancel: () => cancel() };
    },
  };
  return { port, sent, pendingWaits: () => waits.length };
}

for (const c of plans) {
  t.test(`plan: ${c.desc}`, async (t) => {
    const plan = hotplugPlan(c.device);
    t.equal(plan.id, c.device.id, 'the QEMU device id is the device id');
    const q = fakeQmp();
    await plugDevice(q.port, plan, 'test', silentLogger);
    t.same(q.sent, c.plug, 'plug commands, in order');
    const r = fakeQmp();
    await unplugDevice(r.port, plan, 'test', 1000);
    t.same(r.sent, c.unplug, 'unplug commands, in order');
    t.equal(r.pendingWaits(), 0, 'no event subscription left behind');
  });
}

const TAP_FD: HotplugDevice = { kind: 'tap-net', id: 'eth1', tap: { fd: 42 }, mac: '02:00:00:00:00:11', vhost: false };

const failures: Array<{ desc: string; device: HotplugDevice; fail: Record<string, string>; sent: string[]; step: string; undone: string[] }> = [
  {
    desc: 'device_add of a tap fd NIC fails: netdev_del, then closefd',
    device: TAP_FD,
    fail: { device_add: 'GenericError' },
    sent: ['getfd', 'netdev_add', 'device_add', 'netdev_del', 'closefd'],
    step: 'device_add',
    undone: ['netdev_del', 'closefd'],
  },
  {
    desc: 'netdev_add of a tap fd fails: the fd QEMU may still hold is closed',
    device: TAP_FD,
    fail: { netdev_add: 'GenericError' },
    sent: ['getfd', 'netdev_add', 'closefd'],
    step: 'netdev_add',
    undone: ['closefd'],
  },
  {
    desc: 'getfd fails: nothing to undo',
    device: TAP_FD,
    fail: { getfd: 'GenericError' },
    sent: ['getfd'],
    step: 'getfd',
    undone: [],
  },
  {
    desc: 'vhost-vsock device_add fails (no /dev/vhost-vsock): nothing to undo',
    device: { kind: 'vsock', id: 'vsock1', cid: 9 },
    fail: { device_add: 'GenericError' },
    sent: ['device_add'],
    step: 'device_add',
    undone: [],
  },
  {
    desc: 'disk device_add fails: the block node goes',
    device: { kind: 'virtio-blk', id: 'disk0', path: '/d', format: 'qcow2', readOnly: false },
    fail: { device_add: 'GenericError' },
    sent: ['blockdev-add', 'device_add', 'blockdev-del'],
    step: 'device_add',
    undone: ['blockdev-del'],
  },
  {
    desc: 'serial port device_add fails (no controller): the chardev goes',
    device: { kind: 'virtio-serial-port', id: 'p1', socketPath: '/s', name: 'x', bus: 'ser0.0' },
    fail: { device_add: 'GenericError' },
    sent: ['chardev-add', 'device_add', 'chardev-remove'],
    step: 'device_add',
    undone: ['chardev-remove'],
  },
  {
    desc: 'an undo that fails is reported as not undone, and the rest still runs',
    device: TAP_FD,
    fail: { device_add: 'GenericError', netdev_del: 'DeviceNotFound' },
    sent: ['getfd', 'netdev_add', 'device_add', 'netdev_del', 'closefd'],
    step: 'device_add',
    undone: ['closefd'],
  },
];
for (const c of failures) {
  t.test(`plug failure: ${c.desc}`, async (t) => {
    const q = fakeQmp({ fail: c.fail });
    const err = await plugDevice(q.port, hotplugPlan(c.device), 'vm p: adding x', silentLogger).catch((e: unknown) => e);
    t.ok(err instanceof DeviceHotplugError, 'DeviceHotplugError');
    const e = err as DeviceHotplugError;
    t.equal(e.step, c.step, 'names the failed step');
    t.same(e.undone, c.undone, 'says what was undone');
    t.match(e.message, new RegExp(`^vm p: adding x: ${c.step} failed: `), 'message says what, on which VM, at which step');
    t.ok(e.cause instanceof QmpCommandError, "keeps QEMU's error as the cause");
    t.same(
      q.sent.map((s) => s.execute),
      c.sent,
      'commands sent, undo included',
    );
  });
}

t.test('unplug: DEVICE_DELETED sent before the reply still ends the wait', async (t) => {
  const q = fakeQmp({ eventBeforeReply: true });
  await unplugDevice(q.port, hotplugPlan({ kind: 'vsock', id: 'v', cid: 5 }), 'test', 1000);
  t.equal(q.pendingWaits(), 0);
});

t.test('unplug: objects QEMU no longer knows count as removed (a retried removal)', async (t) => {
  const q = fakeQmp({ fail: { device_del: 'DeviceNotFound', netdev_del: 'DeviceNotFound' } });
  await unplugDevice(q.port, hotplugPlan({ kind: 'tap-net', id: 'eth1', tap: { ifname: 't' }, mac: '02:00:00:00:00:11', vhost: false }), 'test', 1000);
  t.same(
    q.sent.map((s) => s.execute),
    ['device_del', 'netdev_del'],
  );
  t.equal(q.pendingWaits(), 0, 'the DEVICE_DELETED wait was cancelled');
});

t.test('unplug: a guest that never releases the device times out, and the backend stays', async (t) => {
  const q = fakeQmp({ guestKeeps: true });
  const err = await unplugDevice(q.port, hotplugPlan({ kind: 'virtio-blk', id: 'disk0', path: '/d', format: 'raw', readOnly: true }), 'vm p: removing block device disk0', 50).catch((e: unknown) => e);
  t.ok(err instanceof DeadlineExceededError, 'DeadlineExceededError');
  t.match((err as Error).message, /^vm p: removing block device disk0: not released within 50 ms of device_del/);
  t.same(
    q.sent.map((s) => s.execute),
    ['device_del'],
    'no blockdev-del under a device still attached',
  );
});

t.test('unplug: any other refusal stops the removal and names the step', async (t) => {
  const q = fakeQmp({ fail: { 'blockdev-del': 'GenericError' } });
  const err = await unplugDevice(q.port, hotplugPlan({ kind: 'virtio-blk', id: 'disk0', path: '/d', format: 'raw', readOnly: true }), 'test', 1000).catch((e: unknown) => e);
  t.ok(err instanceof DeviceHotplugError);
  t.equal((err as DeviceHotplugError).step, 'blockdev-del');
});

t.test('unplug: the connection closing while waiting is UnavailableError', async (t) => {
  const q = fakeQmp({ guestKeeps: true });
  const closing: QmpPort = {
    ...q.port,
    waitForEvent: () => {
      const event = Promise.reject(new UnavailableError('QMP: connection closed'));
      event.catch(() => undefined);
      return { event, cancel: () => undefined };
    },
  };
  const err = await unplugDevice(closing, hotplugPlan({ kind: 'vsock', id: 'v', cid: 5 }), 'test', 1000).catch((e: unknown) => e);
  t.ok(err instanceof UnavailableError);
});

const mapped: Array<{ desc: string; device: VmDevice; accel: 'kvm' | 'tcg' | undefined; expect: HotplugDevice }> = [
  {
    desc: 'NIC under kvm: vhost-net, MAC lower-cased',
    device: { kind: 'net', id: 'eth1', mac: '02:AB:00:00:00:01', tap: { ifname: 'tap1' } },
    accel: 'kvm',
    expect: { kind: 'tap-net', id: 'eth1', tap: { ifname: 'tap1' }, mac: '02:ab:00:00:00:01', vhost: true },
  },
  {
    desc: 'NIC under tcg: no vhost',
    device: { kind: 'net', id: 'eth1', mac: '02:00:00:00:00:01', tap: { fd: 9 } },
    accel: 'tcg',
    expect: { kind: 'tap-net', id: 'eth1', tap: { fd: 9 }, mac: '02:00:00:00:00:01', vhost: false },
  },
  {
    desc: 'NIC of a VM whose record predates accel: no vhost',
    device: { kind: 'net', id: 'eth1', mac: '02:00:00:00:00:01', tap: { ifname: 't' } },
    accel: undefined,
    expect: { kind: 'tap-net', id: 'eth1', tap: { ifname: 't' }, mac: '02:00:00:00:00:01', vhost: false },
  },
  {
    desc: 'serial port on the agent controller',
    device: { kind: 'serial-port', id: 'p', socketPath: '/s', name: 'n' },
    accel: 'tcg',
    expect: { kind: 'virtio-serial-port', id: 'p', socketPath: '/s', name: 'n', bus: 'ser0.0' },
  },
  { desc: 'block', device: { kind: 'block', id: 'd', path: '/d', format: 'raw', readOnly: true }, accel: 'tcg', expect: { kind: 'virtio-blk', id: 'd', path: '/d', format: 'raw', readOnly: true } },
  { desc: 'vsock', device: { kind: 'vsock', id: 'v', cid: 3 }, accel: 'kvm', expect: { kind: 'vsock', id: 'v', cid: 3 } },
];
for (const c of mapped) {
  t.test(`qemuDevice: ${c.desc}`, async (t) => {
    t.same(qemuDevice(c.device, c.accel), c.expect);
  });
}
