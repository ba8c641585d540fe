// SupplementalGroupsPolicy for a runc pod over the real CRI gRPC server: the
// image's /etc/group lists the user in two groups besides its own; under
// Merge the container's init runs with those plus the requested groups,
// under Strict with only the primary and the requested ones. ContainerStatus
// reports the identity runc was given, which is the one `id` sees inside.
// The pod network is a stand-in (a fresh network namespace per pod), as in
// runc-cri.test.ts: groups need no network.

import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import type { PodSandboxConfig } from '../../src/generated/cri/runtime/v1/PodSandboxConfig';
import type { LinuxContainerSecurityContext } from '../../src/generated/cri/runtime/v1/LinuxContainerSecurityContext';
import type { ContainerStatus__Output } from '../../src/generated/cri/runtime/v1/ContainerStatus';
import type { PodNetworkProvider } from '../../src/pods/providers';
import { defaultConfig } from '../../src/config/defaults';
import { createImageService, type ImageService } from '../../src/image';
import { silentLogger } from '../../src/log';
import type { CriClient } from '../helpers/cri-client';
import { serveCri, type InProcessCri } from '../helpers/cri-server';
import { busyboxEntries, makeTar, RegistryPusher, type TarEntry } from '../helpers/image-builder';
import { startRegistry, type RunningRegistry } from '../helpers/registry';

const dir = mkdtempSync(join(tmpdir(), 'vmpod-groups-runc-'));
const cfg = defaultConfig();
cfg.root = join(dir, 'root');
cfg.state = join(dir, 'state');
const socket = join(dir, 'vmpod.sock');
const logDir = join(dir, 'pod-logs');
const noNetwork: PodNetworkProvider = {
  prepare: async () => ({ netnsPath: '', attach: async () => ({ ips: { ip: '', additionalIps: [] } }) }),
  teardown: async () => undefined,
  reconcile: async () => [],
};

// alice (1000) is a member of users (100) and video (44) in the image; bob's groups are not hers.
const PASSWD = 'root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\nbob:x:1001:1001::/home/bob:/bin/sh\n';
const GROUP = 'root:x:0:\nusers:x:100:bob,alice\nvideo:x:44:alice\naudio:x:29:bob\nalice:x:1000:\nbob:x:1001:\n';

let reg: RunningRegistry | undefined;
let images: ImageService;
let cri: InProcessCri | undefined;
let client: CriClient;
let imageRef = '';

t.before(async () => {
  reg = await startRegistry();
  const base = busyboxEntries().filter((e) => e.name !== 'etc/passwd');
  const extra: TarEntry[] = [
    { name: 'bin/id', type: 'symlink', linkname: 'busybox' },
    { name: 'etc/passwd', content: PASSWD },
    { name: 'etc/group', content: GROUP },
  ];
  await new RegistryPusher(reg).pushImage('test/groups', 'v1', [{ tar: await makeTar([...base, ...extra]), compression: 'gzip' }], { config: { User: 'alice', Cmd: ['/bin/sh'] } });
  imageRef = `${reg.host}/test/groups:v1`;
  images = await createImageService({ root: cfg.root, registries: { [reg.host]: { insecure: true, mirrors: [] } }, log: silentLogger });
  cri = await serveCri(socket, { config: cfg, log: silentLogger, images, network: noNetwork });
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

const pod: PodSandboxConfig = {
  metadata: { name: 'groups', uid: 'uid-groups', namespace: 'default', attempt: 0 },
  hostname: 'groups',
  log_directory: join(logDir, 'groups'),
  linux: { security_context: { namespace_options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } } },
};

async function waitExited(id: string): Promise<ContainerStatus__Output> {
  for (let i = 0; i < 200; i++) {
    const { status } = await client.runtime.ContainerStatus({ container_id: id });
    if (status?.state === 'CONTAINER_EXITED') return status;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`container ${id} did not exit`);
}

/** The log lines' payloads (CRI log format: time stream tag payload). */
const logged = (name: string): string[] =>
  readFileSync(join(logDir, 'groups', `${name}.log`), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(' ').slice(3).join(' '));

const sortedIds = (s: string): number[] => [...new Set(s.split(/\s+/).filter(Boolean).map(Number))].sort((a, b) => a - b);

t.test("Merge adds the image's /etc/group memberships; Strict gives only the requested groups", async (t) => {
  const { pod_sandbox_id: podId } = await client.runtime.RunPodSandbox({ config: pod });
  // kubelet passes the pod's fsGroup among supplemental_groups; 4000 and 5000 stand for supplementalGroups and fsGroup.
  const asked = { run_as_user: { value: 1000 }, run_as_group: { value: 3000 }, supplemental_groups: [4000, 5000] };
  const cases: { name: string; sc: LinuxContainerSecurityContext; user: { uid: number; gid: number }; groups: number[] }[] = [
    { name: 'merge', sc: { ...asked, supplemental_groups_policy: 'Merge' }, user: { uid: 1000, gid: 3000 }, groups: [44, 100, 3000, 4000, 5000] },
    { name: 'strict', sc: { ...asked, supplemental_groups_policy: 'Strict' }, user: { uid: 1000, gid: 3000 }, groups: [3000, 4000, 5000] },
    // No user in the pod spec: the image's User (alice) with her passwd group.
    { name: 'image-user-merge', sc: {}, user: { uid: 1000, gid: 1000 }, groups: [44, 100, 1000] },
    { name: 'image-user-strict', sc: { supplemental_groups: [4000], supplemental_groups_policy: 'Strict' }, user: { uid: 1000, gid: 1000 }, groups: [1000, 4000] },
  ];
  for (const c of cases) {
    const { container_id: id } = await client.runtime.CreateContainer({
      pod_sandbox_id: podId,
      config: {
        metadata: { name: c.name, attempt: 0 },
        image: { image: imageRef },
        command: ['/bin/sh', '-c', 'id -u; id -g; id -G'],
        log_path: `${c.name}.log`,
        linux: { security_context: { namespace_options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' }, ...c.sc } },
      },
      sandbox_config: pod,
    });
    await client.runtime.StartContainer({ container_id: id });
    const st = await waitExited(id);
    t.equal(st.exit_code, 0, `${c.name}: id ran`);
    const [uid, gid, groups] = logged(c.name);
    t.same({ uid: Number(uid), gid: Number(gid), groups: sortedIds(groups ?? '') }, { ...c.user, groups: c.groups }, `${c.name}: the init process's identity inside`);
    const u = st.user?.linux;
    t.same({ uid: Number(u?.uid), gid: Number(u?.gid), groups: sortedIds((u?.supplemental_groups ?? []).join(' ')) }, { ...c.user, groups: c.groups }, `${c.name}: ContainerStatus.user is what runs`);
    // The primary group is listed first, as containerd lists it.
    t.equal(u?.supplemental_groups[0], String(c.user.gid), `${c.name}: primary gid first`);
  }
  // An exec'd process runs with the container's identity too (runc exec starts from the container's process.user).
  const { container_id: sleeper } = await client.runtime.CreateContainer({
    pod_sandbox_id: podId,
    config: {
      metadata: { name: 'sleeper', attempt: 0 },
      image: { image: imageRef },
      command: ['/bin/sh', '-c', 'while :; do sleep 1; done'],
      log_path: 'sleeper.log',
      linux: { security_context: { namespace_options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' }, ...asked, supplemental_groups_policy: 'Strict' } },
    },
    sandbox_config: pod,
  });
  await client.runtime.StartContainer({ container_id: sleeper });
  const ex = await client.runtime.ExecSync({ container_id: sleeper, cmd: ['id', '-G'], timeout: 30 });
  t.same(sortedIds(Buffer.from(ex.stdout).toString()), [3000, 4000, 5000], "Strict: an exec'd process gets only the requested groups");
  await client.runtime.RemovePodSandbox({ pod_sandbox_id: podId });
});

t.test('an unknown policy is refused before anything is created', async (t) => {
  const { pod_sandbox_id: podId } = await client.runtime.RunPodSandbox({ config: pod });
  const err = await client.runtime
    .CreateContainer({
      pod_sandbox_id: podId,
      config: {
        metadata: { name: 'unknown', attempt: 0 },
        image: { image: imageRef },
        command: ['/bin/true'],
        log_path: 'unknown.log',
        linux: { security_context: { run_as_user: { value: 1000 }, supplemental_groups_policy: 7 as unknown as 'Merge' } },
      },
      sandbox_config: pod,
    })
    .then(
      () => null,
      (e: unknown) => e as ServiceError,
    );
  t.equal(err?.code, GrpcStatus.INVALID_ARGUMENT, 'INVALID_ARGUMENT');
  t.match(err?.details, /supplemental_groups_policy.*unknown supplemental groups policy 7/, 'names the field and the value');
  const { containers } = await client.runtime.ListContainers({ filter: { pod_sandbox_id: podId } });
  t.equal(containers.length, 0, 'no container left behind');
  await client.runtime.RemovePodSandbox({ pod_sandbox_id: podId });
});
