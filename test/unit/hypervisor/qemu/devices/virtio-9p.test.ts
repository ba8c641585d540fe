import t from 'tap';
import { POD_SHARE_SECURITY_MODEL, virtio9pArgs } from '../../../../../src/hypervisor/qemu/devices/virtio-9p';

const dev = { kind: 'virtio-9p' as const, id: 'vols', path: '/v,1', mountTag: 'vmpod-vols' };

t.test('the pod share keeps security_model=none: its image layers hold symlinks mapped-xattr cannot read', async (t) => {
  t.equal(POD_SHARE_SECURITY_MODEL, 'none');
  t.same(virtio9pArgs(dev), ['-fsdev', 'local,id=vols,path=/v,,1,security_model=none,multidevs=remap', '-device', 'virtio-9p-pci,fsdev=vols,mount_tag=vmpod-vols']);
});

t.test('mapped-xattr is passed to QEMU as asked, the rest unchanged', async (t) => {
  t.same(virtio9pArgs(dev, 'mapped-xattr'), ['-fsdev', 'local,id=vols,path=/v,,1,security_model=mapped-xattr,multidevs=remap', '-device', 'virtio-9p-pci,fsdev=vols,mount_tag=vmpod-vols']);
});
