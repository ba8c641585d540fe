// CheckpointContainer and its restore for runc containers, against real runc,
// conmon and the CRIU scripts/setup builds. A shell counting in a variable
// (its state is in memory only) is checkpointed with --leave-running into an
// archive of the documented layout and keeps running. Over the real CRI
// server, a container checkpointed so is restored by CreateContainer of the
// archive's path and StartContainer in its pod (conmon --restore): it goes on
// counting from where the dump found it instead of from 1, over its rootfs
// diff; restored again in another pod, it joins that pod's namespaces. A request for a stopped container, a relative location or a missing
// directory, and a restore of something that is not an archive or whose
// image is gone, get their codes and leave nothing behind.

import t from 'tap';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { InvalidArgumentError, NotFoundError } from '../../common/errors';
import { defaultConfig } from '../../src/config/defaults';
import type { ContainerConfig } from '../../src/generated/cri/runtime/v1/ContainerConfig';
import type { PodSandboxConfig } from '../../src/generated/cri/runtime/v1/PodSandboxConfig';
import { createImageService } from '../../src/image';
import { silentLogger } from '../../src/log';
import type { PodNetworkProvider } from '../../src/pods/providers';
import type { ContainerConfig__Output } from '../../src/generated/cri/runtime/v1/ContainerConfig';
import { checkpointOptions } from '../../src/pods/checkpoint';
import { ARCHIVE_ENTRIES, missingEntries, parseMetadata } from '../../src/sandbox/runc/checkpoint-archive';
import { checkpointRuncContainer, CRIU_BINARY } from '../../src/sandbox/runc/checkpoint';
import { unpackCheckpoint } from '../../src/sandbox/runc/checkpoint-restore';
import { RuncPaths } from '../../src/sandbox/runc/paths';
import { serveCri } from '../helpers/cri-server';
import { busyboxEntries, makeTar, RegistryPusher, type TarEntry } from '../helpers/image-builder';
import { startRegistry } from '../helpers/registry';
import { RuncFixture, runcMissing } from '../helpers/runc-fixture';

for (const what of runcMissing()) t.fail(`missing component: ${what}`);
if (!existsSync(CRIU_BINARY)) t.fail(`missing component: CRIU at ${CRIU_BINARY} (scripts/setup builds it)`);

const w = new RuncFixture('vmpod-ckpt-', {
  applets: ['sh', 'echo', 'sleep', 'cat', 'rm'],
  passwd: 'root:x:0:0:root:/root:/bin/sh\n',
  group: 'root:x:0:\n',
});
const mounted: string[] = [];
const runcRoot = new RuncPaths(w.state).runcRoot;
const deps = { runcBinary: '/usr/sbin/runc', runcRoot };
t.teardown(async () => {
  for (const m of mounted.reverse()) execFileSync('umount', [m], { stdio: 'ignore' });
  await w.dispose();
});

function config(name: string, script: string): ContainerConfig__Output {
  return {
    metadata: { name, attempt: 0 },
    image: null,
    command: ['/bin/sh', '-c', script],
    args: [],
    working_dir: '',
    envs: [],
    mounts: [],
    devices: [],
    labels: {},
    annotations: {},
    log_path: `${name}.log`,
    stdin: false,
    stdin_once: false,
    tty: false,
    linux: null,
    windows: null,
    CDI_devices: [],
    stop_signal: 'RUNTIME_DEFAULT',
  };
}

/** An overlay over `lower` with a fresh upper dir, as the image store gives a container. */
function overlay(name: string, lower: string): string {
  const base = join(w.dir, 'ovl', name);
  for (const d of ['upper', 'work', 'merged']) mkdirSync(join(base, d), { recursive: true });
  execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${join(base, 'upper')},workdir=${join(base, 'work')}`, join(base, 'merged')]);
  mounted.push(join(base, 'merged'));
  return join(base, 'merged');
}

const counts = (log: string): number[] =>
  readFileSync(log, 'utf8')
    .split('\n')
    .map((l) => /^\S+ stdout F (\d+)$/.exec(l)?.[1])
    .filter((n): n is string => n !== undefined)
    .map(Number);

/** /tmp/count as the archive's rootfs diff holds it. */
function countInDiff(archive: string): number {
  const diff = execFileSync('tar', ['-xOf', archive, `./${ARCHIVE_ENTRIES.rootfsDiff}`]);
  return Number(execFileSync('tar', ['-xOf', '-', './tmp/count'], { input: diff, encoding: 'utf8' }).trim());
}

async function until<T>(what: string, f: () => T | undefined, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// The count lives only in the shell's variable; /tmp/count (written to the
// writable layer) and the deleted /etc/group show the rootfs diff.
const SCRIPT = 'rm /etc/group; i=0; while true; do i=$((i+1)); echo $i; echo $i > /tmp/count; sleep 0.2; done';

t.test('checkpoint a counting shell into an archive of the layout, and it keeps running', async (t) => {
  const sb = await w.createPod(`ckpod${process.pid}`, w.podConfig('ckpod'), 'ckpod');
  const lower = w.busyboxRootfs('counter');
  const id = `${sb.id}-counter`;
  const logPath = join(w.logs, 'counter.log');
  const made = await w.ctl.createContainer({ id, sandbox: sb, config: config('counter', SCRIPT), image: {}, rootfs: overlay('counter', lower), logPath, log: w.log });
  const c = { id, logPath, data: made.data };
  w.containers.push(c);
  await w.ctl.startContainer(sb, c);
  const before = await until('the count to reach 3', () => counts(logPath).find((n) => n >= 3));

  const archive = join(w.dir, 'counter.tar');
  await checkpointRuncContainer(deps, c, checkpointOptions(archive, 0));
  t.equal((await w.ctl.containerState(sb, c)).state, 'running', '--leave-running: the container still runs');
  t.equal(statSync(archive).mode & 0o777, 0o600, 'the archive (it holds memory) is readable by root alone');
  t.same(
    readdirSync(w.dir).filter((n) => n.includes('vmpod-checkpoint')),
    [],
    'the work dir is gone',
  );
  const listing = execFileSync('tar', ['-tf', archive], { encoding: 'utf8' }).split('\n').filter(Boolean);
  t.same(missingEntries(listing), [], 'the archive has every entry of the layout');
  t.ok(
    listing.some((n) => n.replace(/^\.\//, '') === ARCHIVE_ENTRIES.dumpLog),
    "CRIU's dump.log is kept",
  );
  const meta = parseMetadata(execFileSync('tar', ['-xOf', archive, `./${ARCHIVE_ENTRIES.config}`], { encoding: 'utf8' }), archive);
  t.match(meta, { id, name: 'counter', podSandboxId: sb.id, runtime: 'runc', criuVersion: '4.2.1' });

  // The diff is taken after the dump: its /tmp/count is at least the count the images hold.
  const inDiff = countInDiff(archive);
  t.ok(inDiff >= before, `the rootfs diff holds the shell's /tmp/count (${inDiff})`);
  await until('the original to count past the checkpoint', () => counts(logPath).find((n) => n >= inDiff + 5));
  await w.ctl.stopContainer(sb, c, 9, 0, w.log);
});

t.test('requests that cannot be checkpointed get their code', async (t) => {
  t.throws(() => checkpointOptions('relative.tar', 0), InvalidArgumentError);
  t.throws(() => checkpointOptions(join(w.dir, 'no-such-dir', 'x.tar'), 0), NotFoundError);
  t.throws(() => checkpointOptions(w.dir, 0), InvalidArgumentError, 'a directory is not an archive path');
  const notTar = join(w.dir, 'not-a-tar');
  writeFileSync(notTar, 'hello');
  mkdirSync(join(w.dir, 'unpack1'));
  await t.rejects(unpackCheckpoint(notTar, join(w.dir, 'unpack1')), /is not a tar archive/, 'a file that is not a tar is refused naming it');
  const plainTar = join(w.dir, 'plain.tar');
  execFileSync('tar', ['-C', w.dir, '-cf', plainTar, 'not-a-tar']);
  await t.rejects(unpackCheckpoint(plainTar, join(w.dir, 'unpack1')), /is not a checkpoint archive: it has no spec\.dump/, 'a tar without the layout is refused naming what it lacks');
  const sb = w.pod();
  const lower = w.busyboxRootfs('done');
  const id = `${sb.id}-done`;
  const made = await w.ctl.createContainer({ id, sandbox: sb, config: config('done', 'true'), image: {}, rootfs: overlay('done', lower), logPath: join(w.logs, 'done.log'), log: w.log });
  const c = { id, logPath: join(w.logs, 'done.log'), data: made.data };
  w.containers.push(c);
  await w.ctl.startContainer(sb, c);
  await until('the container to exit', () => (existsSync(join(w.state, 'exits', id)) ? true : undefined));
  await t.rejects(checkpointRuncContainer(deps, c, checkpointOptions(join(w.dir, 'done.tar'), 0)), 'an exited container is not checkpointed');
  t.notOk(existsSync(join(w.dir, 'done.tar')), 'no archive is left behind');
  t.same(
    readdirSync(w.dir).filter((n) => n.includes('vmpod-checkpoint')),
    [],
    'nor a work dir',
  );
});

t.test('restore through CRI: CreateContainer of the archive and StartContainer, and the count goes on', async (t) => {
  const dir = join(w.dir, 'cri');
  const cfg = defaultConfig();
  cfg.root = join(dir, 'root');
  cfg.state = join(dir, 'state');
  const logDir = join(dir, 'pod-logs');
  const noNetwork: PodNetworkProvider = {
    prepare: async () => ({ netnsPath: '', attach: async () => ({ ips: { ip: '', additionalIps: [] } }) }),
    teardown: async () => undefined,
    reconcile: async () => [],
  };
  const reg = await startRegistry();
  t.teardown(() => reg.stop());
  const extra: TarEntry[] = ['sleep', 'echo', 'cat', 'rm', 'ls'].map((n) => ({ name: `bin/${n}`, type: 'symlink', linkname: 'busybox' }));
  await new RegistryPusher(reg).pushImage('test/busybox', 'v1', [{ tar: await makeTar([...busyboxEntries(), ...extra]), compression: 'gzip' }], { config: { Cmd: ['/bin/sh'] } });
  const imageRef = `${reg.host}/test/busybox:v1`;
  const images = await createImageService({ root: cfg.root, registries: { [reg.host]: { insecure: true, mirrors: [] } }, log: silentLogger });
  const cri = await serveCri(join(dir, 'vmpod.sock'), { config: cfg, log: silentLogger, images, network: noNetwork });
  const { client } = cri;
  t.teardown(async () => {
    const { items } = await client.runtime.ListPodSandbox({});
    for (const p of items) await client.runtime.RemovePodSandbox({ pod_sandbox_id: p.id });
    await cri.close();
  });
  await client.image.PullImage({ image: { image: imageRef } }, 120_000);
  const imageId = (await client.image.ImageStatus({ image: { image: imageRef } })).image?.id ?? '';

  const pod: PodSandboxConfig = {
    metadata: { name: 'ck', uid: 'uid-ck', namespace: 'default', attempt: 0 },
    hostname: 'ck',
    log_directory: join(logDir, 'ck'),
    linux: { security_context: { namespace_options: { network: 'POD', pid: 'POD', ipc: 'POD' } } },
  };
  const { pod_sandbox_id: podId } = await client.runtime.RunPodSandbox({ config: pod });
  const containerConfig = (name: string, attempt: number, image: string): ContainerConfig => ({
    metadata: { name, attempt },
    image: { image },
    command: ['/bin/sh', '-c', SCRIPT],
    log_path: `${name}-${attempt}.log`,
  });
  const create = async (attempt: number, image: string) =>
    (await client.runtime.CreateContainer({ pod_sandbox_id: podId, config: containerConfig('counter', attempt, image), sandbox_config: pod })).container_id;
  const original = await create(0, imageRef);
  await client.runtime.StartContainer({ container_id: original });
  const originalLog = join(logDir, 'ck', 'counter-0.log');
  const before = await until('the count to reach 3', () => counts(originalLog).find((n) => n >= 3));

  const archive = join(dir, 'counter.tar');
  await client.runtime.CheckpointContainer({ container_id: original, location: archive, timeout: '0' }, 120_000);
  const meta = parseMetadata(execFileSync('tar', ['-xOf', archive, `./${ARCHIVE_ENTRIES.config}`], { encoding: 'utf8' }), archive);
  t.same(meta.image, { ref: imageRef, id: imageId }, 'config.dump records the image the container ran');
  const inDiff = countInDiff(archive);
  await until('the original to count past the checkpoint', () => counts(originalLog).find((n) => n >= inDiff + 5));
  await client.runtime.StopContainer({ container_id: original, timeout: '0' });

  const bundles = join(cfg.state, 'containers');
  const listBundles = () => (existsSync(bundles) ? readdirSync(bundles).sort() : []);
  const containersBefore = (await client.runtime.ListContainers({})).containers.map((c) => c.id).sort();
  const bundlesBefore = listBundles();

  // What cannot be restored is refused with its code, and nothing is left.
  const notTar = join(dir, 'not-a-tar');
  writeFileSync(notTar, 'hello');
  await t.rejects(create(1, notTar), { code: GrpcStatus.INVALID_ARGUMENT, details: /not a tar archive/ }, 'a file that is not an archive: INVALID_ARGUMENT');
  await t.rejects(create(1, join(dir, 'no-such.tar')), { code: GrpcStatus.NOT_FOUND, details: /no-such\.tar/ }, 'no file there: NOT_FOUND naming it');
  // The same archive, its config.dump naming an image the store does not have.
  const edited = join(dir, 'edited');
  mkdirSync(edited);
  execFileSync('tar', ['-C', edited, '-xf', archive]);
  writeFileSync(join(edited, ARCHIVE_ENTRIES.config), JSON.stringify({ ...meta, image: { ref: `${reg.host}/test/gone:v1`, id: 'sha256:' + '0'.repeat(64) } }));
  const goneArchive = join(dir, 'gone.tar');
  execFileSync('tar', ['-C', edited, '-cf', goneArchive, '.']);
  await t.rejects(create(1, goneArchive), { code: GrpcStatus.NOT_FOUND, details: /test\/gone:v1.*pull it first/ }, 'its image absent: NOT_FOUND naming the image');
  t.same((await client.runtime.ListContainers({})).containers.map((c) => c.id).sort(), containersBefore, 'no container record is left by the refused creates');
  t.same(listBundles(), bundlesBefore, 'nor a bundle');

  // The restore: a new container in the same pod from the archive's path.
  const restored = await create(1, archive);
  t.equal((await client.runtime.ContainerStatus({ container_id: restored })).status?.state, 'CONTAINER_CREATED', 'created, not yet running');
  await client.runtime.StartContainer({ container_id: restored }, 120_000);
  const restoredLog = join(logDir, 'ck', 'counter-1.log');
  const first = await until('the restored shell to print', () => counts(restoredLog)[0]);
  t.ok(first > before, `the restored shell goes on from its checkpointed count (${first} after ${before}), not from 1`);
  t.ok(first <= inDiff + 1, `and from the dump's state, not from the original's later one (${first} <= ${inDiff + 1})`);
  const st = await client.runtime.ContainerStatus({ container_id: restored, verbose: true });
  t.equal(st.status?.state, 'CONTAINER_RUNNING', 'ContainerStatus: running');
  const originalImage = (await client.runtime.ContainerStatus({ container_id: original })).status;
  t.match(st.status, { image: { image: imageRef }, image_ref: originalImage?.image_ref, image_id: imageId }, "over the image the archive names: ContainerStatus shows the original's");
  const pid = (JSON.parse(st.info.info ?? '{}') as { pid: number }).pid;
  t.ok(pid > 0 && readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('/bin/sh'), `verbose info.pid (${pid}) is the restored shell`);
  const ex = await client.runtime.ExecSync({ container_id: restored, cmd: ['/bin/sh', '-c', 'ls /etc/group; cat /tmp/count'], timeout: '10' });
  t.match(ex.stderr.toString(), /No such file/, 'the rootfs diff came back: /etc/group, which the shell removed, is still gone');
  t.ok(Number(ex.stdout.toString().trim()) >= first, 'and /tmp/count is the one the restored shell goes on writing');
  t.notOk(existsSync(join(bundles, restored, 'checkpoint')), 'the unpacked images (memory) are gone once it runs');

  // A restore that CRIU refuses (its images damaged) fails StartContainer with CRIU's reason and leaves nothing running.
  writeFileSync(join(edited, ARCHIVE_ENTRIES.config), JSON.stringify(meta));
  writeFileSync(join(edited, ARCHIVE_ENTRIES.checkpointDir, 'inventory.img'), 'not an image');
  const damaged = join(dir, 'damaged.tar');
  execFileSync('tar', ['-C', edited, '-cf', damaged, '.']);
  const broken = await create(2, damaged);
  await t.rejects(
    client.runtime.StartContainer({ container_id: broken }, 120_000),
    { code: GrpcStatus.INTERNAL, details: /restore of container \S+ failed: .*inventory\.img/ },
    "damaged images: StartContainer fails with CRIU's reason (its log names inventory.img)",
  );
  t.match((await client.runtime.ContainerStatus({ container_id: broken })).status, { state: 'CONTAINER_EXITED', reason: 'StartError' }, 'the container is exited, StartError');
  t.equal(execFileSync('/usr/sbin/runc', ['--root', join(cfg.state, 'runc'), 'list', '-q'], { encoding: 'utf8' }).includes(broken), false, 'runc has no container of it');
  await client.runtime.RemoveContainer({ container_id: broken });
  t.notOk(existsSync(join(bundles, broken)), 'RemoveContainer removes its bundle and images');

  // The same archive restored in another pod, while the first restore runs: the processes join that pod's namespaces.
  const pod2: PodSandboxConfig = { ...pod, metadata: { name: 'ck2', uid: 'uid-ck2', namespace: 'default', attempt: 0 }, hostname: 'ck2', log_directory: join(logDir, 'ck2') };
  const { pod_sandbox_id: pod2Id } = await client.runtime.RunPodSandbox({ config: pod2 });
  const elsewhere = (await client.runtime.CreateContainer({ pod_sandbox_id: pod2Id, config: containerConfig('counter', 0, archive), sandbox_config: pod2 })).container_id;
  await client.runtime.StartContainer({ container_id: elsewhere }, 120_000);
  const first2 = await until('the shell restored in the other pod to print', () => counts(join(logDir, 'ck2', 'counter-0.log'))[0]);
  t.ok(first2 > before && first2 <= inDiff + 1, `restored in another pod, it goes on from the dump too (${first2})`);
  const pid2 = (JSON.parse((await client.runtime.ContainerStatus({ container_id: elsewhere, verbose: true })).info.info ?? '{}') as { pid: number }).pid;
  const infra2 = (JSON.parse((await client.runtime.PodSandboxStatus({ pod_sandbox_id: pod2Id, verbose: true })).info.info ?? '{}') as { pid: number }).pid;
  for (const ns of ['pid', 'net', 'ipc']) t.equal(readlinkSync(`/proc/${pid2}/ns/${ns}`), readlinkSync(`/proc/${infra2}/ns/${ns}`), `and it is in that pod's ${ns} namespace`);
  await client.runtime.RemovePodSandbox({ pod_sandbox_id: pod2Id });

  await client.runtime.StopContainer({ container_id: restored, timeout: '0' });
  t.equal((await client.runtime.ContainerStatus({ container_id: restored })).status?.state, 'CONTAINER_EXITED', 'it stops like any container');
  await client.runtime.RemoveContainer({ container_id: restored });
  t.notOk(existsSync(join(bundles, restored)), 'and RemoveContainer removes its bundle');
});
