import t from 'tap';
import { toCriContainer, toCriContainerStatus } from '../../../../src/cri/runtime/to-cri';
import { newContainerRecord } from '../../../../src/store/container';
import type { ContainerConfig__Output } from '../../../../src/generated/cri/runtime/v1/ContainerConfig';

t.test('the ImageSpec of CreateContainer is echoed in ListContainers and ContainerStatus', async (t) => {
  const config = {
    metadata: { name: 'c', attempt: 0 },
    image: { image: 'sha256:abc', annotations: { a: 'b' }, user_specified_image: 'busybox:1.36', runtime_handler: 'kata' },
    labels: {},
    annotations: {},
    mounts: [],
  } as unknown as ContainerConfig__Output;
  const c = newContainerRecord({
    id: 'c1',
    podSandboxId: 'p1',
    config,
    image: 'docker.io/library/busybox:1.36',
    imageId: 'sha256:abc',
    imageRef: 'docker.io/library/busybox@sha256:def',
    logPath: '',
    stopSignal: 15,
    createdAt: '1',
    resources: null,
  });
  const want = { image: 'docker.io/library/busybox:1.36', annotations: { a: 'b' }, user_specified_image: 'busybox:1.36', runtime_handler: 'kata' };
  t.same(toCriContainer(c).image, want, 'ListContainers');
  t.same(toCriContainerStatus(c).image, want, 'ContainerStatus');
  t.equal(toCriContainerStatus(c).stop_signal, 'SIGTERM', 'stop_signal: the signal StopContainer sends');
  t.equal(toCriContainerStatus({ ...c, stopSignal: 37 }).stop_signal, 'SIGRTMINPLUS3', 'a real-time one by its enum name');
});

t.test('ContainerStatus reports an image volume as kubelet asked for it, not the host view vmpod mounted', async (t) => {
  const image = { image: 'sha256:vol', annotations: {}, user_specified_image: 'data:1', runtime_handler: '' };
  const config = {
    metadata: { name: 'c', attempt: 0 },
    image: { image: 'sha256:abc', annotations: {}, user_specified_image: '', runtime_handler: '' },
    labels: {},
    annotations: {},
    mounts: [
      {
        container_path: '/data',
        host_path: '',
        readonly: true,
        selinux_relabel: false,
        propagation: 'PROPAGATION_PRIVATE',
        recursive_read_only: false,
        image,
        image_sub_path: 'sub',
        uidMappings: [],
        gidMappings: [],
      },
      {
        container_path: '/etc/x',
        host_path: '/srv/x',
        readonly: true,
        selinux_relabel: false,
        propagation: 'PROPAGATION_PRIVATE',
        recursive_read_only: true,
        image: null,
        image_sub_path: '',
        uidMappings: [],
        gidMappings: [],
      },
    ],
  } as unknown as ContainerConfig__Output;
  const c = newContainerRecord({ id: 'c1', podSandboxId: 'p1', config, image: 'i', imageId: 'sha256:abc', imageRef: 'i', logPath: '', stopSignal: 15, createdAt: '1', resources: null });
  const [vol, bind] = toCriContainerStatus(c).mounts ?? [];
  t.match(vol, { container_path: '/data', host_path: '', readonly: true, image, image_sub_path: 'sub' }, 'the image and sub path');
  t.match(bind, { container_path: '/etc/x', host_path: '/srv/x', recursive_read_only: true, image: null }, 'a host path, recursively read-only');
});
