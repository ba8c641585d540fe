// Status and list calls of trusted pods answer from memory (issue 18) and
// stay exact: a container whose process ended is EXITED, with its exit code,
// in the very next ListContainers and ContainerStatus, also before the
// daemon processed the exit file's inotify event; and the calls kubelet
// makes every second spawn no process (no runc state, no conmon) per call.

import t from 'tap';
import { loadAddon } from '../../common/native/addon';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PodSandboxConfig } from '../../src/generated/cri/runtime/v1/PodSandboxConfig';
import type { PodNetworkProvider } from '../../src/pods/providers';
import { defaultConfig } from '../../src/config/defaults';
import { createImageService, type ImageService } from '../../src/image';
import { silentLogger } from '../../src/log';
import { RuncPaths } from '../../src/sandbox/runc/paths';
import { conmonPidFile } from '../../src/sandbox/runc/conmon';
import type { CriClient } from '../helpers/cri-client';
import { serveCri, type InProcessCri } from '../helpers/cri-server';
import { busyboxEntries, makeTar, RegistryPusher, type TarEntry } from '../helpers/image-builder';
import { startRegistry, type RunningRegistry } from '../helpers/registry';

const dir = mkdtempSync(join(tmpdir(), 'vmpod-runc-fresh-'));
const cfg = defaultConfig();
cfg.root = join(dir, 'root');
cfg.state = join(dir, 'state');
const socket = join(dir, 'vmpod.sock');
const logDir = join(dir, 'pod-logs');
const exitDir = new RuncPaths(cfg.state).exitDir;
const noNetwork: PodNetworkProvider = {
  prepare: async () => ({ netnsPath: '', attach: async () => ({ ips: { ip: '', additionalIps: [] } }) }),
  teardown: async () => undefined,
  reconcile: async () => [],
};

// The CRI server runs in this process: every process it starts goes through
// node:child_process, whose exports the compiled code looks up at each call
// (`(0, node_child_process_1.spawn)(…)`): the module object itself is wrapped.
const SPAWNERS = ['spawn', 'spawnSync', 'execFile', 'execFileSync', 'exec', 'execSync', 'fork'] as const;
const spawned: string[] = [];
const cp = createRequire(__filename)('node:child_process') as Record<string, (...args: unknown[]) => unknown>;
const originals = new Map(SPAWNERS.map((n) => [n, cp[n]] as const));
for (const n of SPAWNERS) {
  const orig = originals.get(n)!;
  cp[n] = (...args: unknown[]) => {
    spawned.push(String(args[0]));
    return orig(...args);
  };
}

// And through the native addon's posix_spawn (common/native/spawn.ts), which the module object of the addon serves.
try {
  const addon = loadAddon() as unknown as Record<string, (...args: unknown[]) => unknown>;
  const nativeSpawn = addon.spawn;
  addon.spawn = (...args: unknown[]) => {
    spawned.push(String(args[0]));
    return nativeSpawn(...args);
  };
} catch {
  // No addon: every process goes through node:child_process.
}

let reg: RunningRegistry | undefined;
let images: ImageService;
let cri: InProcessCri | undefined;
let client: CriClient;
let imageRef = '';

t.before(async () => {
  reg = await startRegistry();
  const extra: TarEntry[] = ['sleep', 'true', 'touch'].map((n) => ({ name: `bin/${n}`, type: 'symlink', linkname: 'busybox' }));
  await new RegistryPusher(reg).pushImage('test/busybox', 'v1', [{ tar: await makeTar([...busyboxEntries(), ...extra]), compression: 'gzip' }], { config: { Cmd: ['/bin/sh'] } });
  imageRef = `${reg.host}/test/busybox:v1`;
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
  for (const n of SPAWNERS) cp[n] = originals.get(n)!;
  execFileSync('sh', ['-c', `grep -o ' ${dir}[^ ]*' /proc/mounts | sort -r | xargs -r -n1 umount -l`]);
  rmSync(dir, { recursive: true, force: true });
});

const pod: PodSandboxConfig = {
  metadata: { name: 'fresh', uid: 'uid-fresh', namespace: 'default', attempt: 0 },
  hostname: 'fresh',
  log_directory: join(logDir, 'fresh'),
  linux: { security_context: { namespace_options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } } },
};

async function run(podId: string, name: string, command: string[]): Promise<string> {
  const { container_id } = await client.runtime.CreateContainer({
    pod_sandbox_id: podId,
    config: { metadata: { name, attempt: 0 }, image: { image: imageRef }, command, log_path: `${name}.log` },
    sandbox_config: pod,
  });
  await client.runtime.StartContainer({ container_id });
  return container_id;
}

async function hostPid(id: string): Promise<number> {
  const st = await client.runtime.ContainerStatus({ container_id: id, verbose: true });
  return (JSON.parse(st.info.info ?? '{}') as { pid: number }).pid;
}

/** Polls synchronously (no await: the daemon gets no turn to process the exit's inotify event) until `done`, or throws at the deadline. */
function spinUntil(what: string, done: () => boolean, ms = 20_000): void {
  const until = Date.now() + ms;
  while (!done()) {
    if (Date.now() > until) throw new Error(`${what}: not within ${ms} ms`);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2);
  }
}

/** The process is gone from the host: ended and reaped by its conmon (a zombie still has its /proc entry). */
function reaped(pid: number): boolean {
  return !existsSync(`/proc/${pid}/stat`);
}

t.test('a container whose process ended is EXITED with its code in the very next ListContainers and ContainerStatus', async (t) => {
  const { pod_sandbox_id: podId } = await client.runtime.RunPodSandbox({ config: pod });
  t.teardown(() => client.runtime.RemovePodSandbox({ pod_sandbox_id: podId }));

  // Each waits until the test lets it end (an exec makes /go), so the test knows when its process ends.
  const gate = ['/bin/sh', '-c', 'while [ ! -e /go ]; do sleep 0.05; done; exit 3'];
  const a = await run(podId, 'a', gate);
  const b = await run(podId, 'b', gate);
  const [pidA, pidB] = [await hostPid(a), await hostPid(b)];
  t.ok(pidA > 0 && pidB > 0, 'both run on the host');
  const listed = await client.runtime.ListContainers({ filter: { pod_sandbox_id: podId } });
  t.same(listed.containers.map((c) => c.state).sort(), ['CONTAINER_RUNNING', 'CONTAINER_RUNNING'], 'both RUNNING while they wait');

  // a: the next ListContainers once the process is reaped, before the exit's event could be processed.
  await client.runtime.ExecSync({ container_id: a, cmd: ['/bin/touch', '/go'], timeout: '10' });
  spinUntil(`container a (pid ${pidA}) reaped`, () => reaped(pidA));
  const afterA = await client.runtime.ListContainers({ filter: { id: a } });
  t.match(afterA.containers, [{ id: a, state: 'CONTAINER_EXITED' }], 'ListContainers: EXITED by the next call after the process ended');
  const stA = await client.runtime.ContainerStatus({ container_id: a });
  t.match(stA.status, { state: 'CONTAINER_EXITED', exit_code: 3, reason: 'Error' }, 'ContainerStatus: exit code 3');

  // b: the next ContainerStatus once conmon wrote its exit file, again with no turn for the watcher.
  await client.runtime.ExecSync({ container_id: b, cmd: ['/bin/touch', '/go'], timeout: '10' });
  spinUntil(`container b's exit file`, () => existsSync(join(exitDir, b)));
  const stB = await client.runtime.ContainerStatus({ container_id: b });
  t.match(stB.status, { state: 'CONTAINER_EXITED', exit_code: 3 }, 'ContainerStatus: EXITED with code 3 by the next call after conmon recorded it');
  const afterB = await client.runtime.ListContainers({ filter: { pod_sandbox_id: podId, state: { state: 'CONTAINER_EXITED' } } });
  t.same(afterB.containers.map((c) => c.id).sort(), [a, b].sort(), 'both in the EXITED filter');
});

t.test('with its conmon killed first, a container whose process then ends is EXITED in the very next call', async (t) => {
  const { pod_sandbox_id: podId } = await client.runtime.RunPodSandbox({ config: pod });
  t.teardown(() => client.runtime.RemovePodSandbox({ pod_sandbox_id: podId }));
  const c = await run(podId, 'orphan', ['/bin/sleep', '3600']);
  const pid = await hostPid(c);
  const conmon = Number(readFileSync(conmonPidFile(new RuncPaths(cfg.state).containerBundle(c)), 'utf8').trim());
  t.ok(pid > 0 && conmon > 0, 'the container and its conmon run');
  t.match((await client.runtime.ListContainers({ filter: { id: c } })).containers, [{ state: 'CONTAINER_RUNNING' }], 'RUNNING (the daemon has looked once)');
  // No exit file will ever be written: only the daemon's own watch of the process can tell.
  process.kill(conmon, 'SIGKILL');
  spinUntil(`conmon ${conmon} reaped`, () => reaped(conmon));
  process.kill(pid, 'SIGKILL');
  spinUntil(`container process ${pid} reaped`, () => reaped(pid));
  t.notOk(existsSync(join(exitDir, c)), 'no exit file');
  const after = await client.runtime.ListContainers({ filter: { id: c } });
  t.match(after.containers, [{ id: c, state: 'CONTAINER_EXITED' }], 'ListContainers: EXITED by the next call');
});

t.test("kubelet's status and list calls spawn no process per call", async (t) => {
  const { pod_sandbox_id: podId } = await client.runtime.RunPodSandbox({ config: pod });
  t.teardown(() => client.runtime.RemovePodSandbox({ pod_sandbox_id: podId }));
  const ids = [await run(podId, 's1', ['/bin/sleep', '3600']), await run(podId, 's2', ['/bin/sleep', '3600']), await run(podId, 'done', ['/bin/true'])];
  spinUntil('container done exits', () => existsSync(join(exitDir, ids[2])));
  // One round first: whatever is learnt once (a daemon's first look) is not what is counted.
  await client.runtime.ListContainers({});
  await client.runtime.ListPodSandbox({});

  // The spy sees the daemon's processes: an ExecSync is one runc exec at least.
  const before = spawned.length;
  await client.runtime.ExecSync({ container_id: ids[0], cmd: ['/bin/true'], timeout: '10' });
  t.ok(spawned.length > before, `the spy counts the daemon's processes (ExecSync: ${spawned.slice(before).join(', ')})`);

  const start = spawned.length;
  for (let i = 0; i < 50; i++) {
    await client.runtime.ListContainers({});
    await client.runtime.ListPodSandbox({});
    await client.runtime.PodSandboxStatus({ pod_sandbox_id: podId });
    for (const id of ids) await client.runtime.ContainerStatus({ container_id: id });
    await client.runtime.ListContainerStats({});
    await client.runtime.ListPodSandboxStats({});
  }
  t.same(spawned.slice(start), [], '50 rounds of ListContainers, ListPodSandbox, PodSandboxStatus, ContainerStatus and the stats lists spawned nothing');
  const states = Object.fromEntries((await client.runtime.ListContainers({ filter: { pod_sandbox_id: podId } })).containers.map((c) => [c.id, c.state]));
  t.same(states, { [ids[0]]: 'CONTAINER_RUNNING', [ids[1]]: 'CONTAINER_RUNNING', [ids[2]]: 'CONTAINER_EXITED' }, 'and the answers are right');
});
