import t from 'tap';
import { checkVmContainer, checkVmPod } from '../../../../src/sandbox/microvm/admission';
import { FailedPreconditionError, InvalidArgumentError } from '../../../../common/errors';
import type { Mount__Output } from '../../../../src/generated/cri/runtime/v1/Mount';
import type { NamespaceModeName } from '../../../../src/oci/input';

const ns = (o: { network?: NamespaceModeName; pid?: NamespaceModeName; ipc?: NamespaceModeName } = {}) => ({
  network: 'POD' as NamespaceModeName,
  pid: 'CONTAINER' as NamespaceModeName,
  ipc: 'POD' as NamespaceModeName,
  ...o,
});

t.test("the node's namespaces are refused, naming what was asked and why no VM can give it", async (t) => {
  const why = /a VM pod runs under a guest kernel of its own and the node's namespaces exist only in the host kernel, so no VM runtime can provide them; run it as a trusted \(runc\) pod/;
  const cases = [
    { desc: 'host network', ns: ns({ network: 'NODE' }), what: /VM handler "vm" but asks for host network \(hostNetwork: the node's own namespace\)/ },
    { desc: 'host PID', ns: ns({ pid: 'NODE' }), what: /asks for host PID \(hostPID: the node's own namespace\)/ },
    { desc: 'host IPC', ns: ns({ ipc: 'NODE' }), what: /asks for host IPC \(hostIPC: the node's own namespace\)/ },
    { desc: 'all three', ns: ns({ network: 'NODE', pid: 'NODE', ipc: 'NODE' }), what: /asks for host network, host PID, host IPC \(hostNetwork, hostPID, hostIPC: the node's own namespaces\)/ },
  ];
  for (const c of cases) {
    t.throws(() => checkVmPod('vm', c.ns), { constructor: FailedPreconditionError, message: c.what }, `${c.desc}: names what was asked`);
    t.throws(() => checkVmPod('vm', c.ns), { message: why }, `${c.desc}: says why no VM can`);
  }
  t.doesNotThrow(() => checkVmPod('vm', ns()), "the pod's own namespaces are fine");
});

t.test('containers: no host devices, no Bidirectional propagation', async (t) => {
  const mount = (p: Partial<Mount__Output>) => ({ container_path: '/data', host_path: '/srv/data', readonly: false, propagation: 'PROPAGATION_PRIVATE', ...p }) as Mount__Output;
  t.throws(
    () => checkVmContainer({ devices: [{ container_path: '/dev/x', host_path: '/dev/sda', permissions: 'rwm' }], mounts: [] }),
    { constructor: InvalidArgumentError, field: 'config.devices', message: /host devices cannot be passed into a VM pod/ },
    'host devices',
  );
  t.throws(
    () => checkVmContainer({ devices: [], mounts: [mount({ propagation: 'PROPAGATION_BIDIRECTIONAL' })] }),
    { constructor: FailedPreconditionError, message: /Bidirectional mount propagation, which no VM runtime can provide/ },
    'Bidirectional',
  );
  t.doesNotThrow(() => checkVmContainer({ devices: [], mounts: [mount({ propagation: 'PROPAGATION_HOST_TO_CONTAINER' }), mount({})] }), 'HostToContainer and None are fine');
});
