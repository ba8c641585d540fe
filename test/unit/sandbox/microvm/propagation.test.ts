import t from 'tap';
import { FailedPreconditionError } from '../../../../common/errors';
import { shareBindPropagation } from '../../../../src/sandbox/microvm/propagation';

t.test("a VM pod volume's bind into the share, per CRI propagation", async (t) => {
  const cases: { desc: string; propagation: string; readonly: boolean; want?: string; refused?: RegExp }[] = [
    { desc: 'None: rprivate, host mounts made later stay out', propagation: 'PROPAGATION_PRIVATE', readonly: false, want: 'rprivate' },
    { desc: 'None, read-only', propagation: 'PROPAGATION_PRIVATE', readonly: true, want: 'rprivate' },
    { desc: 'unset (older clients): rprivate', propagation: '', readonly: false, want: 'rprivate' },
    { desc: 'HostToContainer: rslave, host mounts reach the guest through 9p', propagation: 'PROPAGATION_HOST_TO_CONTAINER', readonly: false, want: 'rslave' },
    {
      desc: 'HostToContainer, read-only: refused (a later host mount would arrive writable)',
      propagation: 'PROPAGATION_HOST_TO_CONTAINER',
      readonly: true,
      refused: /config\.mounts\[2\] \(\/h on \/c\) is read-only with HostToContainer propagation, which a VM pod cannot keep read-only/,
    },
    {
      desc: 'Bidirectional: refused, no VM runtime can',
      propagation: 'PROPAGATION_BIDIRECTIONAL',
      readonly: false,
      refused: /config\.mounts\[2\] \(\/h on \/c\) asks for Bidirectional mount propagation, which no VM runtime can provide: the container's mounts are made by the pod VM's own kernel/,
    },
  ];
  for (const c of cases) {
    const m = { propagation: c.propagation, readonly: c.readonly, host_path: '/h', container_path: '/c' } as Parameters<typeof shareBindPropagation>[0];
    if (c.refused) t.throws(() => shareBindPropagation(m, 2), { constructor: FailedPreconditionError, message: c.refused }, c.desc);
    else t.equal(shareBindPropagation(m, 2), c.want, c.desc);
  }
});
