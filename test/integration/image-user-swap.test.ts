// CreateContainer takes the image's user from its read-only layers, whatever
// the container's mounted rootfs holds by then. A runc pod over the real CRI
// server, in process: the image service's mountRootfs is wrapped so that,
// right after the overlay is mounted and before the controller reads the
// user files, etc/passwd in the mount is swapped for a FIFO, a symlink to a
// host file or a symlink to /dev/zero (and etc/group for the others). In a
// VM pod that mount is what the guest sees through its share; doing the swap
// from the host at this point of CreateContainer stands in for a guest doing
// it (the same files, the same moment, no race to win).
//
// Throughout CreateContainer and StartContainer (where runc's init, in the
// container, reads the swapped files), Version must keep answering within a
// second: the daemon's threadpool is not held by a read of the FIFO. Each
// call has that deadline.

import t from 'tap';
import type { Test } from 'tap';
import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PodSandboxConfig } from '../../src/generated/cri/runtime/v1/PodSandboxConfig';
import type { PodNetworkProvider } from '../../src/pods/providers';
import { defaultConfig } from '../../src/config/defaults';
import { createImageService, type ImageService } from '../../src/image';
import { silentLogger } from '../../src/log';
import type { CriClient } from '../helpers/cri-client';
import { serveCri, type InProcessCri } from '../helpers/cri-server';
import { busyboxEntries, makeTar, RegistryPusher } from '../helpers/image-builder';
import { startRegistry, type RunningRegistry } from '../helpers/registry';

const dir = mkdtempSync(join(tmpdir(), 'vmpod-user-swap-'));
const cfg = defaultConfig();
cfg.root = join(dir, 'root');
cfg.state = join(dir, 'state');
const socket = join(dir, 'vmpod.sock');
const hostPasswd = join(dir, 'host-passwd');
writeFileSync(hostPasswd, 'app:x:999:999::/:/bin/sh\n');
const noNetwork: PodNetworkProvider = {
  prepare: async () => ({ netnsPath: '', attach: async () => ({ ips: { ip: '', additionalIps: [] } }) }),
  teardown: async () => undefined,
  reconcile: async () => [],
};

/** What the next mounted rootfs gets in place of its etc/passwd and etc/group. */
type Swap = { desc: string; make: (p: string) => void; fifo: boolean };
const SWAPS: Swap[] = [
  { desc: 'a FIFO (no writer)', make: (p) => void execFileSync('mkfifo', [p]), fifo: true },
  { desc: 'a symlink to a host file', make: (p) => symlinkSync(hostPasswd, p), fifo: false },
];
let swap: Swap | undefined;
let swapped = 0;
/** The user files of the last swapped mount, as seen from the host. */
let swappedPaths: string[] = [];

let reg: RunningRegistry | undefined;
let images: ImageService;
let cri: InProcessCri | undefined;
let client: CriClient;
let imageRef = '';

/** The image service, except that mountRootfs swaps the user files in the fresh mount before answering. */
function swappingImages(real: ImageService): ImageService {
  return new Proxy(real, {
    get(target, prop) {
      if (prop === 'mountRootfs') {
        return async (id: string) => {
          const layout = await target.mountRootfs(id);
          if (swap) {
            swappedPaths = ['passwd', 'group'].map((n) => join(layout.mountpoint, 'etc', n));
            for (const p of swappedPaths) {
              rmSync(p, { force: true });
              swap.make(p);
            }
            swapped++;
          }
          return layout;
        };
      }
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

/** fds of this process (the daemon, in process) open on anything under the test dir. */
function openUnderDir(): string[] {
  return readdirSync('/proc/self/fd')
    .map((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`);
      } catch {
        return '';
      }
    })
    .filter((p) => p.startsWith(dir) && !p.startsWith(socket));
}

t.before(async () => {
  reg = await startRegistry();
  const pusher = new RegistryPusher(reg);
  // Two layers: the user's uid comes from the top one (4321), not the bottom (1234).
  const base = await makeTar([
    ...busyboxEntries(),
    { name: 'etc/passwd', content: 'root:x:0:0::/root:/bin/sh\napp:x:1234:1234::/:/bin/sh\n' },
    { name: 'etc/group', content: 'root:x:0:\napp:x:1234:\n' },
  ]);
  const top = await makeTar([
    { name: 'etc/passwd', content: 'root:x:0:0::/root:/bin/sh\napp:x:4321:4322::/:/bin/sh\n' },
    { name: 'etc/group', content: 'root:x:0:\napp:x:4322:\nextra:x:4400:app\n' },
  ]);
  await pusher.pushImage(
    'test/user',
    'v1',
    [
      { tar: base, compression: 'gzip' },
      { tar: top, compression: 'gzip' },
    ],
    { config: { User: 'app', Cmd: ['/bin/sh'] } },
  );
  imageRef = `${reg.host}/test/user:v1`;
  images = await createImageService({ root: cfg.root, registries: { [reg.host]: { insecure: true, mirrors: [] } }, log: silentLogger });
  cri = await serveCri(socket, { config: cfg, log: silentLogger, images: swappingImages(images), network: noNetwork });
  ({ client } = cri);
  await client.image.PullImage({ image: { image: imageRef } }, 120_000);
});

t.teardown(async () => {
  try {
    const { items } = await client.runtime.ListPodSandbox({});
    for (const p of items) await client.runtime.RemovePodSandbox({ pod_sandbox_id: p.id });
  } catch {
    /* server may not have started */
  }
  await cri?.close();
  await reg?.stop();
  execFileSync('sh', ['-c', `grep -o ' ${dir}[^ ]*' /proc/mounts | sort -r | xargs -r -n1 umount -l`]);
  rmSync(dir, { recursive: true, force: true });
});

function podConfig(name: string): PodSandboxConfig {
  return {
    metadata: { name, uid: `uid-${name}`, namespace: 'default', attempt: 0 },
    hostname: name,
    log_directory: join(dir, 'logs', name),
    linux: { security_context: { namespace_options: { network: 'POD', pid: 'POD', ipc: 'POD' } } },
  };
}

/**
 * Calls Version back to back until `until` settles; every call must answer
 * before a 1 s deadline. Returns how many answered.
 */
async function versionsDuring(t: Test, until: Promise<unknown>): Promise<number> {
  let settled = false;
  void until.then(
    () => (settled = true),
    () => (settled = true),
  );
  let n = 0;
  do {
    const started = process.hrtime.bigint();
    const answered = await Promise.race([client.runtime.Version({}).then(() => true), new Promise<false>((r) => setTimeout(r, 1000, false).unref())]);
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    if (!answered || ms >= 1000) t.fail(`Version did not answer within 1 s (call ${n + 1}, ${ms.toFixed(0)} ms)`);
    n++;
    await new Promise((r) => setTimeout(r, 10));
  } while (!settled);
  return n;
}

/**
 * runc's own init, in the container, opens etc/passwd and etc/group to set
 * up the user, and blocks on the FIFO until a writer comes: that is the
 * container's business, not the daemon's. Until `until` settles, every FIFO
 * that has gained a reader is opened for writing and closed (EOF for the
 * reader); O_NONBLOCK makes that open fail with ENXIO while nobody reads. At
 * each release, the daemon (in this process) must hold no fd on the FIFO.
 */
async function releaseFifoReaders(until: Promise<unknown>): Promise<{ released: number; daemonHeld: string[] }> {
  let settled = false;
  void until.then(
    () => (settled = true),
    () => (settled = true),
  );
  let released = 0;
  const daemonHeld: string[] = [];
  while (!settled) {
    for (const p of swappedPaths) {
      let fd: number;
      try {
        fd = openSync(p, constants.O_WRONLY | constants.O_NONBLOCK);
      } catch {
        continue;
      }
      // The writer fd just opened is this process's one expected fd on it.
      if (openUnderDir().filter((f) => f === p).length > 1) daemonHeld.push(p);
      closeSync(fd);
      released++;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return { released, daemonHeld };
}

t.test('a swapped etc/passwd in the mounted rootfs neither stalls the daemon nor decides the user', async (t) => {
  const pod = podConfig('swap');
  const { pod_sandbox_id: podId } = await client.runtime.RunPodSandbox({ config: pod });
  for (const [i, s] of SWAPS.entries()) {
    swap = s;
    const before = swapped;
    const create = client.runtime.CreateContainer({
      pod_sandbox_id: podId,
      config: { metadata: { name: `c${i}`, attempt: 0 }, image: { image: imageRef }, command: ['/bin/busybox', 'true'], log_path: `c${i}.log` },
      sandbox_config: pod,
    });
    const [versions, fifos] = await Promise.all([versionsDuring(t, create), s.fifo ? releaseFifoReaders(create) : undefined]);
    const { container_id: id } = await create;
    t.equal(swapped, before + 1, `${s.desc}: the swap was made in the mounted rootfs`);
    // runc makes the container at StartContainer: its init reads the swapped files then.
    const start = client.runtime.StartContainer({ container_id: id });
    const [startVersions, startFifos] = await Promise.all([versionsDuring(t, start), s.fifo ? releaseFifoReaders(start) : undefined]);
    await start;
    if (fifos && startFifos) {
      const released = fifos.released + startFifos.released;
      t.ok(released >= 1, `${s.desc}: runc's init in the container opened the FIFO (released ${released} times)`);
      t.same([...fifos.daemonHeld, ...startFifos.daemonHeld], [], `${s.desc}: the daemon never held the FIFO open`);
    }
    t.ok(versions >= 1, `${s.desc}: ${versions} Version calls answered within 1 s during CreateContainer`);
    t.ok(startVersions >= 1, `${s.desc}: ${startVersions} Version calls answered within 1 s during StartContainer`);
    const st = await client.runtime.ContainerStatus({ container_id: id });
    t.match(
      st.status?.user?.linux,
      { uid: '4321', gid: '4322', supplemental_groups: ['4322', '4400'] },
      `${s.desc}: the user is the image's top layer's app (4321:4322 + 4400), not the swapped file's`,
    );
    await client.runtime.RemoveContainer({ container_id: id });
  }
  swap = undefined;
  await client.runtime.RemovePodSandbox({ pod_sandbox_id: podId });
  t.same(openUnderDir(), [], 'no fd of the daemon is left open under its root or state');
  t.same(
    readFileSync('/proc/self/mounts', 'utf8')
      .split('\n')
      .filter((m) => m.includes(dir)),
    [],
    'no mount is left under the test dir',
  );
});
