import t from 'tap';
import { deviceArgs } from '../../../../../src/hypervisor/qemu/devices';
import { POD_SHARE_SECURITY_MODEL, VOLUME_SHARE_SECURITY_MODEL, virtio9pArgs } from '../../../../../src/hypervisor/qemu/devices/virtio-9p';

const dev = { kind: 'virtio-9p' as const, id: 'vols', path: '/v,1', mountTag: 'vmpod-vols' };

t.test('the pod share keeps security_model=none: its image layers hold symlinks mapped-xattr cannot read', async (t) => {
  t.equal(POD_SHARE_SECURITY_MODEL, 'none');
  t.same(virtio9pArgs(dev), ['-fsdev', 'local,id=vols,path=/v,,1,security_model=none,multidevs=remap', '-device', 'virtio-9p-pci,fsdev=vols,mount_tag=vmpod-vols']);
});

t.test('mapped-xattr is passed to QEMU as asked, the rest unchanged', async (t) => {
  t.same(virtio9pArgs(dev, 'mapped-xattr'), ['-fsdev', 'local,id=vols,path=/v,,1,security_model=mapped-xattr,multidevs=remap', '-device', 'virtio-9p-pci,fsdev=vols,mount_tag=vmpod-vols']);
});

t.test("writable volumes are served mapped-xattr: the guest's owners, modes and nodes stay xattrs on the host", async (t) => {
  t.equal(VOLUME_SHARE_SECURITY_MODEL, 'mapped-xattr');
});

t.test("a device's own model is used, by virtio9pArgs and by deviceArgs", async (t) => {
  const mapped = { ...dev, securityModel: 'mapped-xattr' as const };
  const expect = ['-fsdev', 'local,id=vols,path=/v,,1,security_model=mapped-xattr,multidevs=remap', '-device', 'virtio-9p-pci,fsdev=vols,mount_tag=vmpod-vols'];
  t.same(virtio9pArgs(mapped), expect);
  t.same(deviceArgs(mapped), expect);
  t.same(deviceArgs({ ...dev, securityModel: 'none' }), virtio9pArgs(dev), "'none' said is the default");
});
