// A full disk under any step of RunPodSandbox or CreateContainer (a CNI
// cache entry, a rootfs directory, a record) is RESOURCE_EXHAUSTED naming the
// pod or container the caller asked for, and what the call made is undone
// (found by the disk-full sweep, test/fault/disk-full.test.ts: the steps'
// wrapper turned ENOSPC into INTERNAL, and a failed first record write named
// only an id the caller never saw).

import t from 'tap';
import { ResourceExhaustedError } from '../../../common/errors';
import { silentLogger } from '../../../src/log';
import type { CallContext } from '../../../src/cri/handler';
import type { ResolvedImage } from '../../../src/pods/providers';
import { podFixture } from './fixture';

const ctx: CallContext = { log: silentLogger, signal: new AbortController().signal };
const POD = 'b'.repeat(64);

function enospc(path: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`ENOSPC: no space left on device, open '${path}'`), { code: 'ENOSPC' });
}

const podConfig = { metadata: { name: 'web', namespace: 'shop', uid: 'u1', attempt: 0 }, labels: {}, annotations: {}, port_mappings: [], hostname: '' };

t.test('RunPodSandbox: a full disk under the network step', async (t) => {
  const undone: string[] = [];
  const fx = podFixture(t, {
    network: {
      // What PodNetwork's attach writes first: the CNI cache entry.
      prepare: async () => ({
        netnsPath: '',
        attach: async () => {
          throw enospc('/var/lib/vmpod/network/x.json');
        },
      }),
      teardown: async () => void undone.push('network'),
    },
  });
  await t.rejects(fx.h.RunPodSandbox({ config: podConfig, runtime_handler: '' }, ctx), {
    constructor: ResourceExhaustedError,
    message: /^RunPodSandbox shop\/web \([0-9a-f]{64}\): step "network-setup" failed: ENOSPC.*; free space on that filesystem and retry$/,
  });
  t.same(fx.sandboxes.list(), [], 'no record is left');
});

t.test('RunPodSandbox: a full disk at the first record write names the pod', async (t) => {
  const fx = podFixture(t);
  const create = fx.sandboxes.create.bind(fx.sandboxes);
  fx.sandboxes.create = (r) => {
    throw new ResourceExhaustedError(`cannot write the record of pod sandbox ${r.id}: no space left; free space on that filesystem and retry`);
  };
  t.teardown(() => (fx.sandboxes.create = create));
  await t.rejects(fx.h.RunPodSandbox({ config: podConfig, runtime_handler: '' }, ctx), {
    constructor: ResourceExhaustedError,
    message: /^RunPodSandbox shop\/web \([0-9a-f]{64}\): cannot write the record/,
  });
});

t.test('RunPodSandbox: any other failure keeps its class', async (t) => {
  const fx = podFixture(t, {
    network: {
      prepare: async () => ({
        netnsPath: '',
        attach: async () => {
          throw Object.assign(new Error('EIO: i/o error'), { code: 'EIO' });
        },
      }),
    },
  });
  await t.rejects(fx.h.RunPodSandbox({ config: podConfig, runtime_handler: '' }, ctx), { code: 'INTERNAL', message: /^RunPodSandbox shop\/web \([0-9a-f]{64}\): step "network-setup" failed: EIO/ });
});

t.test('CreateContainer: a full disk under the rootfs step, wrapped by it', async (t) => {
  const released: string[] = [];
  const image: ResolvedImage = { id: 'sha256:' + 'c'.repeat(64), repoTags: ['busybox:1'], repoDigests: [], config: {} };
  const fx = podFixture(t, {
    images: {
      resolve: () => image,
      prepareRootfs: async (id) => {
        throw new Error(`preparing the rootfs of ${id}`, { cause: enospc('/var/lib/vmpod/image/c/upper') });
      },
      releaseRootfs: async (id) => void released.push(id),
    },
  });
  fx.addPod(POD);
  const config = { metadata: { name: 'work', attempt: 0 }, image: { image: 'busybox:1' }, command: ['sh'], log_path: '', linux: {} };
  await t.rejects(fx.h.CreateContainer({ pod_sandbox_id: POD, config, sandbox_config: podConfig }, ctx), {
    constructor: ResourceExhaustedError,
    message: new RegExp(`^CreateContainer "work" in pod ${POD} \\([0-9a-f]{64}\\): step "rootfs-prepare" failed: preparing the rootfs`),
  });
  t.same(fx.containers.list(), [], 'no record is left');
});

// Found by the disk-full sweep: StopPodSandbox on a full root failed RESOURCE_EXHAUSTED with
// "cannot write the record of container <id>", naming a container the caller never asked about.
t.test('StopPodSandbox and RemovePodSandbox name the pod when a container record cannot be written', async (t) => {
  const CTR = 'c'.repeat(64);
  const fx = podFixture(t, { controller: { stopContainer: async () => undefined, containerState: async () => ({ state: 'running', exitCode: 0, finishedAt: '0', oomKilled: false }) } });
  fx.addPod(POD);
  fx.addContainer(CTR, POD, 'CONTAINER_RUNNING');
  const update = fx.containers.update.bind(fx.containers);
  fx.containers.update = (id) => {
    throw new ResourceExhaustedError(`cannot write the record of container ${id}: no space left; free space on that filesystem and retry`);
  };
  t.teardown(() => (fx.containers.update = update));
  await t.rejects(fx.h.StopPodSandbox({ pod_sandbox_id: POD }, ctx), {
    constructor: ResourceExhaustedError,
    message: `StopPodSandbox ${POD}: cannot write the record of container ${CTR}: no space left; free space on that filesystem and retry`,
  });
  fx.containers.update = () => {
    throw Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' });
  };
  await t.rejects(fx.h.StopPodSandbox({ pod_sandbox_id: POD }, ctx), { code: 'INTERNAL', message: new RegExp(`^StopPodSandbox ${POD}: EIO`) }, 'an untyped error too, as INTERNAL');
});
