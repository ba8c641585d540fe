// User namespaces (hostUsers: false) and recursively read-only mounts for a
// runc pod, over the real CRI gRPC server, runc 1.1 and this kernel:
//  - the container's root is an unprivileged uid on the host (/proc/<pid>/uid_map
//    and the Uid line of /proc/<pid>/status, read on the host);
//  - the rootfs shows root-owned inside (idmapped lower layers) and root can write it;
//  - a hostPath volume is idmapped: a root-owned host file is root's inside,
//    and a file root makes inside is root's on the host;
//  - a recursive_read_only mount's submount is read-only inside, while the
//    same submount stays writable on the host;
//  - after RemovePodSandbox nothing under the test's dirs is mounted (no
//    staging mount, no netns or user namespace pin).
// The pod network is the real netns code path (network/netns.ts with the
// pod's id maps) without CNI: a user-namespace netns needs no plugin.

import t from 'tap';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import type { PodSandboxConfig } from '../../src/generated/cri/runtime/v1/PodSandboxConfig';
import type { PodNetworkProvider, PodNetworkRequest } from '../../src/pods/providers';
import { defaultConfig } from '../../src/config/defaults';
import { createImageService, type ImageService } from '../../src/image';
import { silentLogger } from '../../src/log';
import { createNetns, deleteNetns, netnsPath } from '../../src/network/netns';
import type { CriClient } from '../helpers/cri-client';
import { serveCri, type InProcessCri } from '../helpers/cri-server';
import { busyboxEntries, makeTar, RegistryPusher } from '../helpers/image-builder';
import { startRegistry, type RunningRegistry } from '../helpers/registry';

const dir = mkdtempSync(join(tmpdir(), 'vmpod-userns-runc-'));
// As the daemon's own dirs (/run/vmpod, /var/lib/vmpod): searchable by the pod's unprivileged root, which runc's init is when it mounts the rootfs.
chmodSync(dir, 0o711);
const cfg = defaultConfig();
cfg.root = join(dir, 'root');
cfg.state = join(dir, 'state');
const socket = join(dir, 'vmpod.sock');
const logDir = join(dir, 'pod-logs');
const volume = join(dir, 'volume');
const rroDir = join(dir, 'rro');

// A range far above any uid this host hands out; 65536 ids as kubelet allocates.
const HOST_BASE = 1_610_612_736;
const MAPPING = [{ container_id: 0, host_id: HOST_BASE, length: 65536 }];

/** The real netns code path with the pod's id maps (what PodNetwork.prepare does before CNI ADD). */
const network: PodNetworkProvider = {
  prepare: async (req: PodNetworkRequest & { userns?: { uidMap: string; gidMap: string } }) => {
    const path = netnsPath(cfg.state, req.id);
    await createNetns(path, req.userns);
    return { netnsPath: path, attach: async () => ({ ips: { ip: '', additionalIps: [] } }) };
  },
  teardown: async (id) => deleteNetns(netnsPath(cfg.state, id)),
  reconcile: async () => [],
};

let reg: RunningRegistry | undefined;
let images: ImageService;
let cri: InProcessCri | undefined;
let client: CriClient;
let imageRef = '';

t.before(async () => {
  reg = await startRegistry();
  await new RegistryPusher(reg).pushImage('test/userns', 'v1', [{ tar: await makeTar(busyboxEntries()), compression: 'gzip' }], { config: { Cmd: ['/bin/sh'] } });
  imageRef = `${reg.host}/test/userns:v1`;
  images = await createImageService({ root: cfg.root, registries: { [reg.host]: { insecure: true, mirrors: [] } }, log: silentLogger });
  cri = await serveCri(socket, { config: cfg, log: silentLogger, images, network });
  ({ client } = cri);
  await client.image.PullImage({ image: { image: imageRef } }, 120_000);
  mkdirSync(volume);
  writeFileSync(join(volume, 'owned-by-host-root'), 'x');
  mkdirSync(join(rroDir, 'sub'), { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'rro-sub', join(rroDir, 'sub')]);
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

const nsOptions = { network: 'POD', pid: 'CONTAINER', ipc: 'POD', userns_options: { mode: 'POD', uids: MAPPING, gids: MAPPING } } as const;
const pod: PodSandboxConfig = {
  metadata: { name: 'userns', uid: 'uid-userns', namespace: 'default', attempt: 0 },
  hostname: 'userns',
  log_directory: join(logDir, 'userns'),
  linux: { security_context: { namespace_options: nsOptions } },
};

/** Mount points under `p`, from the host's mount table; the netns pin dir itself stays a (shared) mount by design. */
const mountsUnder = (p: string): string[] =>
  readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m.startsWith(p) && m !== join(cfg.state, 'netns'));

async function sh(id: string, script: string): Promise<{ out: string; code: number }> {
  const r = await client.runtime.ExecSync({ container_id: id, cmd: ['/bin/sh', '-c', script], timeout: 30 });
  return { out: Buffer.from(r.stdout).toString().trim() + Buffer.from(r.stderr).toString().trim(), code: r.exit_code };
}

t.test('a hostUsers:false pod: root inside is an unprivileged host uid; rootfs and volume idmapped; rro submount read-only', async (t) => {
  const { pod_sandbox_id: podId } = await client.runtime.RunPodSandbox({ config: pod });
  const { container_id: id } = await client.runtime.CreateContainer({
    pod_sandbox_id: podId,
    config: {
      metadata: { name: 'c', attempt: 0 },
      image: { image: imageRef },
      command: ['/bin/sh', '-c', 'while :; do sleep 1; done'],
      log_path: 'c.log',
      linux: { security_context: { namespace_options: nsOptions } },
      mounts: [
        { container_path: '/data', host_path: volume },
        { container_path: '/rro', host_path: rroDir, readonly: true, recursive_read_only: true },
      ],
    },
    sandbox_config: pod,
  });
  t.same(mountsUnder(join(cfg.state, 'staged')), [], 'no staging mount is left once the container is created');
  await client.runtime.StartContainer({ container_id: id });

  const { info } = await client.runtime.ContainerStatus({ container_id: id, verbose: true });
  const pid = (JSON.parse(info.info ?? '{}') as { pid?: number }).pid ?? 0;
  t.ok(pid > 0, 'verbose status names the host pid');
  t.equal(readFileSync(`/proc/${pid}/uid_map`, 'utf8').trim().split(/\s+/).join(' '), `0 ${HOST_BASE} 65536`, 'uid_map on the host: container 0 is the mapped host id');
  const uidLine = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  t.equal(Number(uidLine?.[1]), HOST_BASE, 'the init process runs as the unprivileged host uid');

  t.same(await sh(id, 'id -u'), { out: '0', code: 0 }, 'root inside');
  t.same(await sh(id, 'stat -c %u /etc/hosts && grep -c userns /etc/hostname'), { out: '0\n1', code: 0 }, "the pod's files are root's inside and readable");
  t.same(await sh(id, 'stat -c %u:%g /bin/busybox /etc'), { out: '0:0\n0:0', code: 0 }, 'image files show root-owned inside');
  t.same(await sh(id, 'echo hi > /etc/written && stat -c %u /etc/written'), { out: '0', code: 0 }, 'root writes the rootfs');

  t.same(await sh(id, 'stat -c %u /data/owned-by-host-root'), { out: '0', code: 0 }, 'a host-root file of the volume is root-owned inside');
  t.same(await sh(id, 'echo y > /data/made-inside && echo ok'), { out: 'ok', code: 0 }, 'root writes the volume');
  t.equal(statSync(join(volume, 'made-inside')).uid, 0, 'and what it wrote is host root-owned on the host (idmapped, not chowned)');

  const top = await sh(id, 'touch /rro/top');
  t.not(top.code, 0, 'the rro mount itself is read-only');
  const sub = await sh(id, 'touch /rro/sub/x');
  t.not(sub.code, 0, 'its submount is read-only inside');
  t.match(sub.out, /Read-only file system/, 'refused as a read-only file system');
  writeFileSync(join(rroDir, 'sub', 'host-can'), 'z');
  t.pass('the submount stays writable on the host');

  // An image volume (a read-only overlay view, which cannot be idmapped) is bound as it is: readable, its files nobody's.
  const { container_id: withImage } = await client.runtime.CreateContainer({
    pod_sandbox_id: podId,
    config: {
      metadata: { name: 'img', attempt: 0 },
      image: { image: imageRef },
      command: ['/bin/sh', '-c', 'while :; do sleep 1; done'],
      log_path: 'img.log',
      linux: { security_context: { namespace_options: nsOptions } },
      mounts: [{ container_path: '/img', image: { image: imageRef }, readonly: true }],
    },
    sandbox_config: pod,
  });
  await client.runtime.StartContainer({ container_id: withImage });
  t.same(await sh(withImage, 'test -x /img/bin/busybox && stat -c %u /img/bin/busybox'), { out: '65534', code: 0 }, 'image volume: readable, owned by nobody inside');

  await client.runtime.RemovePodSandbox({ pod_sandbox_id: podId });
  t.same(mountsUnder(cfg.state), [], 'nothing of the pod is mounted under the state dir (staging, netns and userns pins)');
  t.same(mountsUnder(join(cfg.root, 'image', 'containers')), [], 'the container rootfs is unmounted');
  t.same(readdirSync(join(cfg.state, 'netns', '.userns')), [], 'the user namespace pin file is gone');
});

t.test('mappings are validated before anything is made', async (t) => {
  const bad = async (uids: { container_id: number; host_id: number; length: number }[], why: RegExp): Promise<void> => {
    const config: PodSandboxConfig = {
      ...pod,
      metadata: { ...pod.metadata, uid: `bad-${Math.random()}` },
      linux: { security_context: { namespace_options: { ...nsOptions, userns_options: { mode: 'POD', uids, gids: MAPPING } } } },
    };
    const err = await client.runtime.RunPodSandbox({ config }).then(
      () => null,
      (e: unknown) => e as ServiceError,
    );
    t.equal(err?.code, GrpcStatus.INVALID_ARGUMENT, `INVALID_ARGUMENT: ${why.source}`);
    t.match(err?.details, why);
  };
  await bad([{ container_id: 0, host_id: 0, length: 65536 }], /userns_options\.uids\[0\]\.host_id.*host id 0/);
  await bad([], /userns_options\.uids.*empty/);
  await bad(
    [
      { container_id: 0, host_id: HOST_BASE, length: 65536 },
      { container_id: 65536, host_id: HOST_BASE + 1000, length: 10 },
    ],
    /uids\[1\].*host ids overlap/,
  );
  const { items } = await client.runtime.ListPodSandbox({});
  t.equal(items.length, 0, 'no pod left behind');
  t.same(mountsUnder(cfg.state), [], 'no pin left behind');
});

t.test('recursive_read_only needs a read-only, private mount', async (t) => {
  const plain: PodSandboxConfig = { ...pod, metadata: { ...pod.metadata, uid: 'rro-check' }, linux: { security_context: { namespace_options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } } } };
  const { pod_sandbox_id: podId } = await client.runtime.RunPodSandbox({ config: plain });
  for (const [m, why] of [
    [{ container_path: '/rro', host_path: rroDir, readonly: false, recursive_read_only: true }, /mounts\[0\]\.recursive_read_only.*requires readonly/],
    [{ container_path: '/rro', host_path: rroDir, readonly: true, recursive_read_only: true, propagation: 'PROPAGATION_HOST_TO_CONTAINER' as const }, /requires PROPAGATION_PRIVATE/],
  ] as const) {
    const err = await client.runtime
      .CreateContainer({
        pod_sandbox_id: podId,
        config: { metadata: { name: 'rro', attempt: 0 }, image: { image: imageRef }, command: ['/bin/true'], log_path: 'rro.log', mounts: [m] },
        sandbox_config: plain,
      })
      .then(
        () => null,
        (e: unknown) => e as ServiceError,
      );
    t.equal(err?.code, GrpcStatus.INVALID_ARGUMENT, 'INVALID_ARGUMENT');
    t.match(err?.details, why);
  }
  // The same mount done right, in a pod with the host's users (only the rro half of the staging).
  const { container_id: id } = await client.runtime.CreateContainer({
    pod_sandbox_id: podId,
    config: {
      metadata: { name: 'rro-ok', attempt: 0 },
      image: { image: imageRef },
      command: ['/bin/sh', '-c', 'while :; do sleep 1; done'],
      log_path: 'rro-ok.log',
      mounts: [{ container_path: '/rro', host_path: rroDir, readonly: true, recursive_read_only: true }],
    },
    sandbox_config: plain,
  });
  await client.runtime.StartContainer({ container_id: id });
  const sub = await sh(id, 'touch /rro/sub/x');
  t.not(sub.code, 0, 'host users: the submount is read-only inside too');
  t.match(sub.out, /Read-only file system/, 'EROFS');
  t.same(await sh(id, 'cat /rro/sub/host-can'), { out: 'z', code: 0 }, 'and still shows what the host wrote there');
  await client.runtime.RemovePodSandbox({ pod_sandbox_id: podId });
  t.same(mountsUnder(cfg.state), [], 'nothing left mounted');
});
