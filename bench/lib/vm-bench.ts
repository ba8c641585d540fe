// The world the VM benches (vm-pod, vm-cold-start, vm-pool) drive the microvm
// controller in: a throw-away network namespace with a bridge CNI network, a
// loopback registry holding a busybox image already pulled into a fresh image
// store, and the handler config for TCG with the serial agent channel (this
// machine has no usable KVM and no vhost-vsock). Each bench names its own
// bridge and subnet so that two benches never share one. Everything it makes
// is removed by close(), also when opening failed half-way.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultConfig } from '../../src/config/defaults';
import type { MicrovmHandlerConfig, VmpodConfig } from '../../src/config/types';
import type { ContainerConfig__Output } from '../../src/generated/cri/runtime/v1/ContainerConfig';
import type { PodSandboxConfig__Output } from '../../src/generated/cri/runtime/v1/PodSandboxConfig';
import type { GuestImage } from '../../src/host/guest-image';
import { createImageService } from '../../src/image';
import { silentLogger } from '../../src/log';
import { PodNetwork } from '../../src/network';
import type { MicrovmController } from '../../src/sandbox/microvm/controller';
import { unmountAll } from '../../src/sandbox/microvm/share';
import { busyboxEntries, makeTar, RegistryPusher } from '../../test/helpers/image-builder';
import { createNetnsSandbox } from '../../test/helpers/netns-sandbox';
import { startRegistry } from '../../test/helpers/registry';

type ImageService = Awaited<ReturnType<typeof createImageService>>;
type PulledImage = Awaited<ReturnType<ImageService['pull']>>;

/** A pod's namespaces as the VM benches run them: all of the pod's own. */
export const POD_NAMESPACES = { network: 'POD', pid: 'POD', ipc: 'POD' } as const;

export interface VmBenchWorldOptions {
  /** Prefix of the temp dir under /tmp. */
  tmpPrefix: string;
  /** Prefix of the network namespace the bench runs in. */
  netnsPrefix: string;
  /** CNI network name, its bridge and its /24 (distinct per bench). */
  cniName: string;
  bridge: string;
  subnet: string;
  guest: GuestImage;
}

/** A pod the bench started, enough to remove it by id (paths follow from the id). */
export interface BenchPod {
  c: MicrovmController;
  net: PodNetwork;
  id: string;
}

export interface VmBenchWorld {
  dir: string;
  cfg: VmpodConfig;
  vmCfg: MicrovmHandlerConfig;
  images: ImageService;
  image: PulledImage;
  net: PodNetwork;
  /** Pods to remove at close (the bench pushes and splices). */
  pods: BenchPod[];
  /** Controllers to close at close. */
  controllers: MicrovmController[];
  close(): Promise<void>;
}

export async function openVmBenchWorld(o: VmBenchWorldOptions): Promise<VmBenchWorld> {
  const dir = mkdtempSync(`/tmp/${o.tmpPrefix}`);
  const sb = createNetnsSandbox(o.netnsPrefix);
  const pods: BenchPod[] = [];
  const controllers: MicrovmController[] = [];
  let reg: Awaited<ReturnType<typeof startRegistry>> | undefined;
  const close = async (): Promise<void> => {
    for (const p of pods) {
      const sbh = { id: p.id, config: {} as PodSandboxConfig__Output, namespaces: POD_NAMESPACES, hostname: 'bench', netnsPath: '', data: { podDir: '', netnsPath: '', tapName: '' } };
      await p.c.removeSandbox(sbh, silentLogger).catch((e: unknown) => console.error(`cleanup of ${p.id}: ${(e as Error).message}`));
      await p.net.teardown(p.id).catch(() => undefined);
    }
    for (const c of controllers) await c.close().catch(() => undefined);
    await reg?.stop();
    sb.destroy();
    await unmountAll(dir);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    reg = await startRegistry();
    const cfg = defaultConfig();
    cfg.root = join(dir, 'r');
    cfg.state = join(dir, 's');
    const vmCfg: MicrovmHandlerConfig = { ...(cfg.runtime.handlers.vm as MicrovmHandlerConfig), accel: 'tcg', agent_transport: 'serial', guest_dir: o.guest.dir, boot_timeout_s: 300 };
    cfg.network = { cni_conf_dir: join(sb.dir, 'net.d'), cni_bin_dirs: ['/usr/lib/cni'], plugin_timeout_s: 30 };
    sb.exec(['mkdir', '-p', cfg.network.cni_conf_dir]);
    writeFileSync(
      join(cfg.network.cni_conf_dir, '10-bench.conflist'),
      JSON.stringify({
        cniVersion: '1.0.0',
        name: o.cniName,
        plugins: [{ type: 'bridge', bridge: o.bridge, isGateway: true, ipam: { type: 'host-local', ranges: [[{ subnet: o.subnet }]], dataDir: join(sb.dir, 'ipam') } }],
      }),
    );
    await new RegistryPusher(reg).pushImage('bench/busybox', 'v1', [{ tar: await makeTar(busyboxEntries()), compression: 'gzip' }], { config: { Cmd: ['/bin/sh'] } });
    const images = await createImageService({ root: cfg.root, registries: { [reg.host]: { insecure: true, mirrors: [] } }, log: silentLogger });
    const image = await images.pull(`${reg.host}/bench/busybox:v1`, null);
    const net = new PodNetwork({ config: cfg.network, root: cfg.root, state: cfg.state, logger: silentLogger, hostNetns: sb.netns });
    return { dir, cfg, vmCfg, images, image, net, pods, controllers, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** The pod config a VM bench's pod gets (logs under the world's dir). */
export function benchPodConfig(w: VmBenchWorld, id: string, name: string, hostname: string): PodSandboxConfig__Output {
  return {
    metadata: { name, uid: id, namespace: 'bench', attempt: 0 },
    hostname,
    log_directory: join(w.dir, 'logs', id),
    dns_config: null,
    port_mappings: [],
    labels: {},
    annotations: {},
    linux: null,
  } as unknown as PodSandboxConfig__Output;
}

/** A busybox container running `script` with `sh -c`, its log at `c.log` of the pod's log dir. */
export function busyboxContainerConfig(imageId: string, script: string): ContainerConfig__Output {
  return {
    metadata: { name: 'c', attempt: 0 },
    image: { image: imageId },
    command: ['/bin/sh', '-c', script],
    args: [],
    working_dir: '',
    envs: [],
    mounts: [],
    devices: [],
    labels: {},
    annotations: {},
    log_path: 'c.log',
    stdin: false,
    stdin_once: false,
    tty: false,
    linux: null,
    CDI_devices: [],
  } as unknown as ContainerConfig__Output;
}
