// The world of a VM pod end-to-end test: a temp dir, a throw-away "node"
// netns with a CNI bridge conflist, a config with the vm handler on TCG over
// the built guest image, a local registry holding a busybox image, and the
// CRI server over all of it (restartable, for tests of a daemon restart).
// Each test gives its own names and subnet, so tests can run side by side.
// teardown() removes every pod, kills any QEMU of this test still running
// (by the PID in its launch record), removes its run dir, unmounts what is
// left under the temp dir and destroys the netns.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PodSandboxConfig } from '../../src/generated/cri/runtime/v1/PodSandboxConfig';
import type { ContainerConfig } from '../../src/generated/cri/runtime/v1/ContainerConfig';
import { defaultConfig } from '../../src/config/defaults';
import type { MicrovmHandlerConfig, VmpodConfig } from '../../src/config/types';
import { findGuestImage, type GuestImage } from '../../src/host/guest-image';
import { createImageService } from '../../src/image';
import { createLogger, silentLogger, type Logger } from '../../src/log';
import { PodNetwork } from '../../src/network';
import { vmRunPaths } from '../../src/sandbox/microvm/layout';
import type { CriClient } from './cri-client';
import { serveCri, type InProcessCri } from './cri-server';
import { busyboxEntries, makeTar, RegistryPusher, type TarEntry } from './image-builder';
import { createNetnsSandbox, type NetnsSandbox } from './netns-sandbox';
import { startRegistry, type RunningRegistry } from './registry';

export const CNI_BIN = '/usr/lib/cni';
export const QEMU = '/usr/bin/qemu-system-x86_64';

/** Host components a VM e2e test needs besides the guest image: [what, path]. */
export const VM_E2E_COMPONENTS: readonly (readonly [string, string])[] = [
  ['qemu-system-x86_64', QEMU],
  ['CNI bridge plugin', `${CNI_BIN}/bridge`],
  ['CNI host-local plugin', `${CNI_BIN}/host-local`],
  ['/dev/net/tun', '/dev/net/tun'],
];

/** The built guest image, or why a VM e2e test cannot run (the first missing piece). */
export function vmE2eGuest(components: readonly (readonly [string, string])[] = VM_E2E_COMPONENTS): GuestImage | { missing: string } {
  const found = findGuestImage(process.env.VMPOD_GUEST_DIR);
  if ('missing' in found) return { missing: `guest image: ${found.missing}` };
  if (found.manifest.agent !== 'bundle') return { missing: `guest image ${found.dir} holds the fallback agent, not vmpod-agent: run scripts/build-agent then guest-image/build` };
  const absent = components.find(([, p]) => !existsSync(p));
  return absent ? { missing: `missing component: ${absent[0]} (${absent[1]})` } : found;
}

export interface VmE2eOptions {
  guest: GuestImage;
  /** mkdtemp prefix under /tmp; short: the VM's sockets must fit sun_path. */
  tmpPrefix: string;
  netnsPrefix: string;
  /** CNI network name; the bridge is `<name>br0`. Unique per test. */
  cniName: string;
  /** The bridge's subnet, e.g. 10.88.91.0/24. Unique per test. */
  subnet: string;
  /** Whether host-local hands the pod a default route (default true). */
  defaultRoute?: boolean;
  /** The state dir inside the temp dir (default `<dir>/s`). */
  state?: (dir: string) => string;
  /** Tag of the busybox image pushed to the registry. */
  imageTag: string;
  /** Applets linked into /bin beside busybox. */
  busyboxLinks?: readonly string[];
  /** Namespace of the pods podConfig builds (default 'e2e'). */
  namespace?: string;
}

export interface VmE2eDaemon {
  cri: InProcessCri;
  client: CriClient;
  network: PodNetwork;
}

export interface VmE2e {
  dir: string;
  sb: NetnsSandbox;
  cfg: VmpodConfig;
  /** cfg.runtime.handlers.vm. */
  vmCfg: MicrovmHandlerConfig;
  logDir: string;
  log: Logger;
  /** Start the registry, push the image, start the daemon and pull. For t.before. */
  start: () => Promise<VmE2eDaemon>;
  /** The running daemon. */
  daemon: () => VmE2eDaemon;
  /** Stop the daemon (VMs are left running, as a daemon stop leaves them) and start a new one over the same root and state. */
  restartDaemon: () => Promise<VmE2eDaemon>;
  /** For t.teardown: `comment` shows each VM's console when VMPOD_TEST_LOG is set. */
  teardown: (comment: (s: string) => void) => Promise<void>;
  podConfig: (name: string, annotations?: Record<string, string>) => PodSandboxConfig;
  containerConfig: (name: string, command: string[], extra?: Partial<ContainerConfig>) => ContainerConfig;
  /** Create and start a container of containerConfig's making in the pod, through the running daemon; its id. */
  run: (podId: string, pod: PodSandboxConfig, name: string, command: string[], extra?: Partial<ContainerConfig>) => Promise<string>;
}

export const UNTRUSTED = { 'io.kubernetes.cri.untrusted-workload': 'true' } as const;

export function vmE2e(o: VmE2eOptions): VmE2e {
  const dir = mkdtempSync(join('/tmp', o.tmpPrefix));
  const sb = createNetnsSandbox(o.netnsPrefix);
  const cfg = defaultConfig();
  cfg.root = join(dir, 'r');
  cfg.state = o.state ? o.state(dir) : join(dir, 's');
  const vmCfg: MicrovmHandlerConfig = { ...(cfg.runtime.handlers.vm as MicrovmHandlerConfig), accel: 'tcg', agent_transport: 'serial', guest_dir: o.guest.dir, boot_timeout_s: 240 };
  cfg.runtime.handlers.vm = vmCfg;
  const confDir = join(sb.dir, 'net.d');
  mkdirSync(confDir);
  const routes = o.defaultRoute === false ? {} : { routes: [{ dst: '0.0.0.0/0' }] };
  writeFileSync(
    join(confDir, `10-${o.cniName}.conflist`),
    JSON.stringify({
      cniVersion: '1.0.0',
      name: o.cniName,
      plugins: [
        { type: 'bridge', bridge: `${o.cniName}br0`, isGateway: true, ipMasq: false, ipam: { type: 'host-local', ranges: [[{ subnet: o.subnet }]], ...routes, dataDir: join(sb.dir, 'ipam') } },
      ],
    }),
  );
  cfg.network.cni_conf_dir = confDir;
  cfg.network.cni_bin_dirs = [CNI_BIN];
  const socket = join(dir, 'cri.sock');
  const logDir = join(dir, 'logs');
  const log = process.env.VMPOD_TEST_LOG ? createLogger('debug') : silentLogger;

  let reg: RunningRegistry | undefined;
  let imageRef = '';
  let current: VmE2eDaemon | undefined;

  async function startDaemon(): Promise<VmE2eDaemon> {
    const images = await createImageService({ root: cfg.root, registries: { [reg!.host]: { insecure: true, mirrors: [] } }, log });
    const network = new PodNetwork({ config: cfg.network, root: cfg.root, state: cfg.state, logger: log, hostNetns: sb.netns });
    const cri = await serveCri(socket, { config: cfg, log, images, network });
    return { cri, client: cri.client, network };
  }

  function daemon(): VmE2eDaemon {
    if (!current) throw new Error('the VM e2e daemon is not running: start() failed or was not called');
    return current;
  }

  const containerConfig = (name: string, command: string[], extra: Partial<ContainerConfig> = {}): ContainerConfig => ({
    metadata: { name, attempt: 0 },
    image: { image: imageRef },
    command,
    log_path: `${name}.log`,
    ...extra,
  });

  return {
    dir,
    sb,
    cfg,
    vmCfg,
    logDir,
    log,
    async start() {
      reg = await startRegistry();
      const links: TarEntry[] = (o.busyboxLinks ?? []).map((n) => ({ name: `bin/${n}`, type: 'symlink', linkname: 'busybox' }));
      await new RegistryPusher(reg).pushImage('test/busybox', o.imageTag, [{ tar: await makeTar([...busyboxEntries(), ...links]), compression: 'gzip' }], { config: { Cmd: ['/bin/sh'] } });
      imageRef = `${reg.host}/test/busybox:${o.imageTag}`;
      current = await startDaemon();
      await current.client.image.PullImage({ image: { image: imageRef } }, 120_000);
      return current;
    },
    daemon,
    async restartDaemon() {
      const old = current;
      current = undefined;
      await old?.cri.close();
      current = await startDaemon();
      return current;
    },
    async teardown(comment) {
      try {
        const { items } = await current!.client.runtime.ListPodSandbox({});
        for (const p of items) await current!.client.runtime.RemovePodSandbox({ pod_sandbox_id: p.id }, 120_000);
      } catch {
        /* the server may not have started */
      }
      await current?.cri.close();
      await reg?.stop();
      // What a failed run left: QEMUs of this test (by the PID in their launch records, reached through the
      // state dir's links), their run dirs (outside the temp dir), mounts, the netns.
      const vmDir = join(cfg.state, 'vm');
      for (const id of existsSync(vmDir) ? readdirSync(vmDir) : []) {
        try {
          const rec = JSON.parse(readFileSync(join(vmDir, id, 'vm.json'), 'utf8')) as { pid: number };
          if (readFileSync(`/proc/${rec.pid}/cmdline`, 'utf8').includes(dir)) process.kill(rec.pid, 'SIGKILL');
        } catch {
          /* gone */
        }
        if (process.env.VMPOD_TEST_LOG) comment(`console of ${id}:\n${existsSync(join(vmDir, id, 'console.log')) ? readFileSync(join(vmDir, id, 'console.log'), 'utf8').slice(-6000) : '(none)'}`);
        try {
          rmSync(vmRunPaths(cfg.state, id).dir, { recursive: true, force: true });
        } catch {
          /* not a pod id: nothing of ours */
        }
      }
      execFileSync('sh', ['-c', `grep -o ' ${dir}[^ ]*' /proc/mounts | sort -r | xargs -r -n1 umount -l`]);
      sb.destroy();
      rmSync(dir, { recursive: true, force: true });
    },
    podConfig: (name, annotations = UNTRUSTED) => ({
      metadata: { name, uid: `uid-${name}`, namespace: o.namespace ?? 'e2e', attempt: 0 },
      hostname: name,
      log_directory: join(logDir, name),
      labels: {},
      annotations,
      linux: { security_context: { namespace_options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } } },
    }),
    containerConfig,
    async run(podId, pod, name, command, extra = {}) {
      const { client } = daemon();
      const { container_id } = await client.runtime.CreateContainer({ pod_sandbox_id: podId, config: containerConfig(name, command, extra), sandbox_config: pod }, 60_000);
      await client.runtime.StartContainer({ container_id }, 60_000);
      return container_id;
    },
  };
}
