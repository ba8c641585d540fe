import t from 'tap';
import { validateVmDevice } from '../../../../src/hypervisor/qemu/validate';
import type { VmDevice } from '../../../../src/hypervisor/vm-device';
import { InvalidArgumentError } from '../../../../common/errors';

const nic = (over: Partial<Extract<VmDevice, { kind: 'net' }>> = {}): VmDevice => ({ kind: 'net', id: 'eth1', mac: '02:00:00:00:00:01', tap: { ifname: 'tap1' }, ...over });

const ok: Array<{ desc: string; device: VmDevice }> = [
  { desc: 'NIC by tap name', device: nic() },
  { desc: 'NIC by tap fd', device: nic({ tap: { fd: 0 } }) },
  { desc: 'vsock', device: { kind: 'vsock', id: 'vsock1', cid: 3 } },
  { desc: 'block', device: { kind: 'block', id: 'disk0', path: '/var/lib/d.qcow2', format: 'qcow2', readOnly: false } },
  { desc: 'serial port', device: { kind: 'serial-port', id: 'agent1', socketPath: '/run/vmpod/s/x/agent1.sock', name: 'vmpod.agent' } },
  { desc: 'id of 24 characters', device: { kind: 'vsock', id: 'a'.repeat(24), cid: 3 } },
];
for (const c of ok) {
  t.test(`valid: ${c.desc}`, async (t) => {
    t.doesNotThrow(() => validateVmDevice(c.device));
  });
}

const bad: Array<{ desc: string; device: VmDevice; field: string }> = [
  { desc: 'id starting with a digit (QEMU refuses it)', device: nic({ id: '1eth' }), field: 'vmDevice.id' },
  { desc: 'id with a comma (would split a QEMU option)', device: nic({ id: 'a,b' }), field: 'vmDevice.id' },
  { desc: 'id too long for a node name once suffixed', device: nic({ id: 'a'.repeat(25) }), field: 'vmDevice.id' },
  { desc: 'empty id', device: nic({ id: '' }), field: 'vmDevice.id' },
  { desc: 'multicast MAC', device: nic({ mac: '01:00:5e:00:00:01' }), field: 'vmDevice.mac' },
  { desc: 'not a MAC', device: nic({ mac: '02:00:00:00:00' }), field: 'vmDevice.mac' },
  { desc: 'interface name too long', device: nic({ tap: { ifname: 'a'.repeat(16) } }), field: 'vmDevice.tap.ifname' },
  { desc: 'negative fd', device: nic({ tap: { fd: -1 } }), field: 'vmDevice.tap.fd' },
  { desc: 'fractional fd', device: nic({ tap: { fd: 1.5 } }), field: 'vmDevice.tap.fd' },
  { desc: 'host CID 2', device: { kind: 'vsock', id: 'v', cid: 2 }, field: 'vmDevice.cid' },
  { desc: 'relative disk path', device: { kind: 'block', id: 'd', path: 'd.raw', format: 'raw', readOnly: true }, field: 'vmDevice.path' },
  { desc: 'unknown disk format', device: { kind: 'block', id: 'd', path: '/d', format: 'vmdk' as 'raw', readOnly: true }, field: 'vmDevice.format' },
  { desc: 'socket path over 107 bytes', device: { kind: 'serial-port', id: 'p', socketPath: `/${'s'.repeat(107)}`, name: 'n' }, field: 'vmDevice.socketPath' },
  { desc: 'port name with a slash', device: { kind: 'serial-port', id: 'p', socketPath: '/s', name: 'a/b' }, field: 'vmDevice.name' },
];
for (const c of bad) {
  t.test(`refused: ${c.desc}`, async (t) => {
    const err = (() => {
      try {
        validateVmDevice(c.device);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    t.ok(err instanceof InvalidArgumentError, 'InvalidArgumentError');
    t.equal((err as InvalidArgumentError).field, c.field);
  });
}
