import t from 'tap';
import { FailedPreconditionError, InternalError } from '../../../../common/errors';
import { cpuResizeCommands, parseCpuSlots, resizeCpus, resizeVirtioMem, smpArg, virtioMemArgs, virtioMemRequestCommand, type CpuSlot, type ResizePort } from '../../../../src/hypervisor/qemu/resize';

const MIB = 1024 * 1024;
const slot = (socket: number, plugged: boolean): CpuSlot => ({
  type: 'max-x86_64-cpu',
  props: { 'socket-id': socket, 'core-id': 0, 'thread-id': 0 },
  ...(plugged ? { qomPath: `/machine/unattached/device[${socket}]` } : {}),
});

t.test('smpArg: maxcpus only when there is headroom', async (t) => {
  t.equal(smpArg(1, 4), '1,maxcpus=4');
  t.equal(smpArg(2, 2), '2');
  t.equal(smpArg(2, undefined), '2');
});

t.test('virtioMemArgs: a RAM backend over the headroom, plugged empty', async (t) => {
  t.same(virtioMemArgs(512), ['-object', 'memory-backend-ram,id=vmem0-ram,size=512M', '-device', 'virtio-mem-pci,id=vmem0,memdev=vmem0-ram,requested-size=0']);
});

t.test('parseCpuSlots', async (t) => {
  const reply = [
    { type: 'max-x86_64-cpu', 'vcpus-count': 1, props: { 'socket-id': 1, 'core-id': 0, 'thread-id': 0 } },
    { type: 'max-x86_64-cpu', 'vcpus-count': 1, props: { 'socket-id': 0, 'core-id': 0, 'thread-id': 0 }, 'qom-path': '/machine/unattached/device[0]' },
  ];
  t.same(parseCpuSlots(reply), [
    { type: 'max-x86_64-cpu', props: { 'socket-id': 1, 'core-id': 0, 'thread-id': 0 } },
    { type: 'max-x86_64-cpu', props: { 'socket-id': 0, 'core-id': 0, 'thread-id': 0 }, qomPath: '/machine/unattached/device[0]' },
  ]);
  t.throws(() => parseCpuSlots({}), InternalError);
  t.throws(() => parseCpuSlots([{ props: {} }]), InternalError);
});

t.test('cpuResizeCommands: grow adds the lowest free slots by their props', async (t) => {
  // Listed out of order, as QEMU lists them (highest first).
  const slots = [slot(3, false), slot(2, false), slot(1, false), slot(0, true)];
  const { add, del } = cpuResizeCommands(slots, 3);
  t.same(del, []);
  t.same(add, [
    { execute: 'device_add', arguments: { driver: 'max-x86_64-cpu', id: 'vcpu1-0-0-0', 'socket-id': 1, 'core-id': 0, 'thread-id': 0 } },
    { execute: 'device_add', arguments: { driver: 'max-x86_64-cpu', id: 'vcpu2-0-0-0', 'socket-id': 2, 'core-id': 0, 'thread-id': 0 } },
  ]);
});

t.test('cpuResizeCommands: shrink deletes the highest plugged by QOM path, never below one', async (t) => {
  const slots = [slot(3, false), slot(2, true), slot(1, true), slot(0, true)];
  t.same(cpuResizeCommands(slots, 1).del, [
    { execute: 'device_del', arguments: { id: '/machine/unattached/device[2]' } },
    { execute: 'device_del', arguments: { id: '/machine/unattached/device[1]' } },
  ]);
  t.same(cpuResizeCommands(slots, 0).del.length, 2, 'a target of 0 keeps one vCPU');
  t.same(cpuResizeCommands(slots, 3), { add: [], del: [] }, 'already there');
  t.throws(() => cpuResizeCommands(slots, 5), FailedPreconditionError, 'beyond maxcpus');
});

t.test('virtioMemRequestCommand is bytes', async (t) => {
  t.same(virtioMemRequestCommand(256), { execute: 'qom-set', arguments: { path: 'vmem0', property: 'requested-size', value: 256 * MIB } });
});

/** A QEMU with CPU slots and a virtio-mem device whose guest plugs up to `guestMaxMib`. */
type FakeQemu = ResizePort & { calls: string[]; requested: number; size: number; hold: boolean; keepCpus: boolean };

function fakeQemu(slots: CpuSlot[], guestMaxMib = Infinity): FakeQemu {
  const f = {
    hold: false,
    keepCpus: false,
    calls: [] as string[],
    requested: 0,
    size: 0,
    execute: async (cmd: string, args?: Record<string, unknown>): Promise<unknown> => {
      f.calls.push(`${cmd} ${JSON.stringify(args ?? {})}`);
      if (cmd === 'query-hotpluggable-cpus') return slots.map((s) => ({ type: s.type, props: s.props, ...(s.qomPath ? { 'qom-path': s.qomPath } : {}) }));
      if (cmd === 'device_add') {
        const s = slots.find((x) => x.props['socket-id'] === args?.['socket-id']);
        if (s) s.qomPath = `/machine/peripheral/${String(args?.id)}`;
        return {};
      }
      if (cmd === 'device_del') {
        const s = slots.find((x) => x.qomPath === args?.id);
        if (s && !f.keepCpus) delete s.qomPath;
        return {};
      }
      if (cmd === 'qom-set') {
        f.requested = Number(args?.value);
        // The guest gives back down to what it can, plugs up to what it can.
        if (!f.hold) f.size = Math.min(f.requested, guestMaxMib * MIB);
        return {};
      }
      if (cmd === 'qom-get') return f.size;
      throw new Error(`unexpected ${cmd}`);
    },
    executeWithFd: async (): Promise<unknown> => {
      throw new Error('no fds here');
    },
    waitForEvent: () => {
      throw new Error('resize polls QEMU, it waits for no event');
    },
  };
  return f as unknown as FakeQemu;
}

t.test('resizeCpus grows and shrinks, returning what is plugged', async (t) => {
  const q = fakeQemu([slot(0, true), slot(1, false), slot(2, false)]);
  t.equal(await resizeCpus(q, 3), 3);
  t.equal(await resizeCpus(q, 1), 1);
  t.match(
    q.calls.filter((c) => c.startsWith('device_del')),
    [/vcpu2/, /vcpu1/],
    'the newest CPU goes first',
  );
});

t.test('resizeCpus: a guest that never ejects the CPU fails the shrink, naming it', async (t) => {
  const q = fakeQemu([slot(0, true), slot(1, true)]);
  q.keepCpus = true;
  await t.rejects(resizeCpus(q, 1, 300), { name: 'FailedPreconditionError', message: /did not release vCPU \/machine\/unattached\/device\[1\] within 300 ms/ });
});

t.test('resizeVirtioMem: done once the device size reaches the request', async (t) => {
  const q = fakeQemu([]);
  t.equal(await resizeVirtioMem(q, 256, 1000), 256);
  t.equal(q.requested, 256 * MIB);
});

t.test('resizeVirtioMem: a guest that keeps memory fails the shrink and the request is set back', async (t) => {
  const q = fakeQemu([]);
  await resizeVirtioMem(q, 256, 1000);
  // From now on the guest holds on to everything it has.
  q.hold = true;
  await t.rejects(resizeVirtioMem(q, 0, 300), { name: 'FailedPreconditionError', message: /holds 256 MiB.*0 MiB asked for.*set back to 256 MiB/ });
  t.equal(q.requested, 256 * MIB, 'requested-size is what the guest holds again');
});
