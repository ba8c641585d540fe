// GetContainerEvents over the real CRI gRPC server with runc pods: every
// container and pod transition arrives as an event, an exit that happens
// while nobody calls included (conmon's exit file, pushed by the runc
// controller), with the pod's status and its containers' statuses; a
// subscriber that does not keep up is dropped while the others keep
// receiving; a cancelled stream leaves nothing subscribed; shutdown ends the
// streams with UNAVAILABLE.
//
// The server is composed as the daemon composes it, with the RuntimeService's
// streams (runtimeStreams) passed in.

import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status as GrpcStatus, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import { ResourceExhaustedError } from '../../common/errors';
import { defaultConfig } from '../../src/config/defaults';
import { imageHandlers } from '../../src/cri/image';
import { runtimeStreams } from '../../src/cri/runtime';
import { createCriServer } from '../../src/cri/server';
import type { ContainerConfig } from '../../src/generated/cri/runtime/v1/ContainerConfig';
import type { ContainerEventResponse__Output } from '../../src/generated/cri/runtime/v1/ContainerEventResponse';
import type { PodSandboxConfig } from '../../src/generated/cri/runtime/v1/PodSandboxConfig';
import { createImageService, type ImageService } from '../../src/image';
import { silentLogger } from '../../src/log';
import type { PodNetworkProvider } from '../../src/pods/providers';
import type { PodService } from '../../src/pods/service';
import { criClient, type CriClient } from '../helpers/cri-client';
import { composeRuntime } from '../helpers/cri-server';
import { busyboxEntries, makeTar, RegistryPusher, type TarEntry } from '../helpers/image-builder';
import { startRegistry, type RunningRegistry } from '../helpers/registry';
import { serveCriOn } from '../helpers/serve-cri';

const dir = mkdtempSync(join(tmpdir(), 'vmpod-events-'));
const cfg = defaultConfig();
cfg.root = join(dir, 'root');
cfg.state = join(dir, 'state');
const socket = join(dir, 'vmpod.sock');
const noNetwork: PodNetworkProvider = {
  prepare: async () => ({ netnsPath: '', attach: async () => ({ ips: { ip: '', additionalIps: [] } }) }),
  teardown: async () => undefined,
  reconcile: async () => [],
};

let reg: RunningRegistry | undefined;
let images: ImageService;
let stopServer: (() => Promise<void>) | undefined;
let pods: PodService;
let client: CriClient | undefined;
let imageRef = '';

t.before(async () => {
  reg = await startRegistry();
  const extra: TarEntry[] = ['sleep', 'sh'].map((n) => ({ name: `bin/${n}`, type: 'symlink', linkname: 'busybox' }));
  await new RegistryPusher(reg).pushImage('test/busybox', 'v1', [{ tar: await makeTar([...busyboxEntries(), ...extra]), compression: 'gzip' }], { config: { Cmd: ['/bin/sh'] } });
  imageRef = `${reg.host}/test/busybox:v1`;
  images = await createImageService({ root: cfg.root, registries: { [reg.host]: { insecure: true, mirrors: [] } }, log: silentLogger });
  const parts = composeRuntime({ config: cfg, log: silentLogger, images, network: noNetwork });
  pods = parts.pods;
  const { server } = createCriServer({ runtime: parts.runtime, image: imageHandlers(images), streams: runtimeStreams(pods) }, silentLogger);
  stopServer = await serveCriOn(server, socket);
  client = criClient(socket);
  await client.image.PullImage({ image: { image: imageRef } }, 120_000);
});

t.teardown(async () => {
  try {
    const { items } = await client!.runtime.ListPodSandbox({});
    for (const p of items) await client!.runtime.RemovePodSandbox({ pod_sandbox_id: p.id });
  } catch {
    /* server may not have started */
  }
  client?.close();
  await stopServer?.();
  await pods?.close();
  await reg?.stop();
  execFileSync('sh', ['-c', `grep -o ' ${dir}[^ ]*' /proc/mounts | sort -r | xargs -r -n1 umount -l`]);
  rmSync(dir, { recursive: true, force: true });
});

/** A GetContainerEvents stream whose events are collected as they come. */
class EventReader {
  readonly events: ContainerEventResponse__Output[] = [];
  error: ServiceError | undefined;
  ended = false;
  private waiters: Array<() => void> = [];
  readonly call: ClientReadableStream<ContainerEventResponse__Output>;

  constructor(c: CriClient) {
    this.call = c.raw.runtime.GetContainerEvents({});
    this.call.on('data', (e: ContainerEventResponse__Output) => {
      this.events.push(e);
      this.notify();
    });
    this.call.on('error', (err: ServiceError) => {
      this.error = err;
      this.notify();
    });
    this.call.on('end', () => {
      this.ended = true;
      this.notify();
    });
  }

  private notify(): void {
    this.waiters.splice(0).forEach((w) => w());
  }

  /** Resolves when `done()` holds; fails the test rather than hang if the stream ends first or nothing comes. */
  async until(what: string, done: () => boolean, waitMs = 60_000): Promise<void> {
    const deadline = Date.now() + waitMs;
    while (!done()) {
      if (this.error || this.ended) throw new Error(`stream ended (${this.error?.message ?? 'EOF'}) before ${what}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${what} within ${waitMs} ms; got ${this.summary().join(', ')}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  find(id: string, type: ContainerEventResponse__Output['container_event_type']): ContainerEventResponse__Output | undefined {
    return this.events.find((e) => e.container_id === id && e.container_event_type === type);
  }

  async event(id: string, type: ContainerEventResponse__Output['container_event_type']): Promise<ContainerEventResponse__Output> {
    await this.until(`${type} of ${id}`, () => this.find(id, type) !== undefined);
    return this.find(id, type)!;
  }

  /** "<id> <type>" of the events about `ids`, in order. */
  of(ids: string[]): string[] {
    return this.events.filter((e) => ids.includes(e.container_id)).map((e) => `${ids.indexOf(e.container_id)} ${e.container_event_type}`);
  }

  summary(): string[] {
    return this.events.map((e) => `${e.container_id.slice(0, 8)} ${e.container_event_type}`);
  }
}

/** Until the server has noticed the client went away (no timing assertion: this waits for the count). */
async function subscribersDropTo(n: number): Promise<number> {
  for (let i = 0; i < 200 && pods.eventSubscribers() > n; i++) await new Promise((r) => setTimeout(r, 50));
  return pods.eventSubscribers();
}

function podConfig(name: string): PodSandboxConfig {
  return {
    metadata: { name, uid: `uid-${name}`, namespace: 'default', attempt: 0 },
    hostname: name,
    labels: {},
    annotations: {},
    linux: { security_context: { namespace_options: { network: 'POD', pid: 'POD', ipc: 'POD' } } },
  };
}

function containerConfig(name: string, command: string[]): ContainerConfig {
  return { metadata: { name, attempt: 0 }, image: { image: imageRef }, command };
}

t.test('every transition of a runc pod and its containers arrives as an event', async (t) => {
  const c = client!;
  const reader = new EventReader(c);
  const other = new EventReader(c);
  // Subscribed before anything happens: the server has both streams before the first call.
  t.equal(await waitSubscribers(2), 2, 'both streams are subscribed');
  // A subscriber in the domain that never reads, allowed 2 events behind.
  const slow = pods.subscribe(2);

  const pod = podConfig('events');
  const { pod_sandbox_id: podId } = await c.runtime.RunPodSandbox({ config: pod });
  const started = await reader.event(podId, 'CONTAINER_STARTED_EVENT');
  t.ok(reader.find(podId, 'CONTAINER_CREATED_EVENT'), 'the pod: CREATED, under its own id (as containerd)');
  t.equal(started.pod_sandbox_status?.id, podId);
  t.equal(started.pod_sandbox_status?.metadata?.uid, 'uid-events', 'the pod status carries the uid kubelet keys its cache by');
  t.equal(started.pod_sandbox_status?.state, 'SANDBOX_READY');
  t.match(started.created_at, /^[1-9]\d{15,}$/, 'created_at in nanoseconds');

  // Exits by itself: nobody calls Status or List while we wait for its event.
  const { container_id: quitter } = await c.runtime.CreateContainer({ pod_sandbox_id: podId, config: containerConfig('quitter', ['/bin/sh', '-c', 'sleep 1; exit 7']), sandbox_config: pod });
  const created = await reader.event(quitter, 'CONTAINER_CREATED_EVENT');
  t.same(
    created.containers_statuses.map((s) => [s.id, s.state]),
    [[quitter, 'CONTAINER_CREATED']],
    'CREATED with the container statuses of the pod',
  );
  await c.runtime.StartContainer({ container_id: quitter });
  await reader.event(quitter, 'CONTAINER_STARTED_EVENT');
  const exit = await reader.event(quitter, 'CONTAINER_STOPPED_EVENT');
  t.match(
    exit.containers_statuses.find((s) => s.id === quitter),
    { state: 'CONTAINER_EXITED', exit_code: 7, reason: 'Error' },
    'an exit nobody asked about is pushed, with its exit code',
  );

  const { container_id: sleeper } = await c.runtime.CreateContainer({ pod_sandbox_id: podId, config: containerConfig('sleeper', ['/bin/sleep', '1000']), sandbox_config: pod });
  await c.runtime.StartContainer({ container_id: sleeper });
  await reader.event(sleeper, 'CONTAINER_STARTED_EVENT');
  await c.runtime.StopContainer({ container_id: sleeper, timeout: '0' });
  const stopped = await reader.event(sleeper, 'CONTAINER_STOPPED_EVENT');
  t.equal(stopped.containers_statuses.find((s) => s.id === sleeper)?.state, 'CONTAINER_EXITED', 'StopContainer: STOPPED');
  await c.runtime.RemoveContainer({ container_id: quitter });
  await c.runtime.RemoveContainer({ container_id: sleeper });
  const deleted = await reader.event(sleeper, 'CONTAINER_DELETED_EVENT');
  t.same(deleted.containers_statuses, [], 'after both removals the pod has no container statuses');
  await c.runtime.StopPodSandbox({ pod_sandbox_id: podId });
  const podStopped = await reader.event(podId, 'CONTAINER_STOPPED_EVENT');
  t.equal(podStopped.pod_sandbox_status?.state, 'SANDBOX_NOTREADY');
  await c.runtime.RemovePodSandbox({ pod_sandbox_id: podId });
  const podDeleted = await reader.event(podId, 'CONTAINER_DELETED_EVENT');
  t.equal(podDeleted.pod_sandbox_status?.id, podId, 'a deleted pod’s event still carries its status');

  const ids = [podId, quitter, sleeper];
  const expected = [
    '0 CONTAINER_CREATED_EVENT',
    '0 CONTAINER_STARTED_EVENT',
    '1 CONTAINER_CREATED_EVENT',
    '1 CONTAINER_STARTED_EVENT',
    '1 CONTAINER_STOPPED_EVENT',
    '2 CONTAINER_CREATED_EVENT',
    '2 CONTAINER_STARTED_EVENT',
    '2 CONTAINER_STOPPED_EVENT',
    '1 CONTAINER_DELETED_EVENT',
    '2 CONTAINER_DELETED_EVENT',
    '0 CONTAINER_STOPPED_EVENT',
    '0 CONTAINER_DELETED_EVENT',
  ];
  t.same(reader.of(ids), expected, 'one event per transition, in order');
  await other.until('all events on the second stream', () => other.of(ids).length >= expected.length);
  t.same(other.of(ids), expected, 'a second stream got the same');

  const it = slow[Symbol.asyncIterator]();
  await t.rejects(it.next(), ResourceExhaustedError, 'the subscriber that did not read was dropped, past its bound');
  t.equal(pods.eventSubscribers(), 2, 'the two streams stayed subscribed');

  reader.call.cancel();
  other.call.cancel();
  t.equal(await subscribersDropTo(0), 0, 'a cancelled stream leaves nothing subscribed');
});

async function waitSubscribers(n: number): Promise<number> {
  for (let i = 0; i < 200 && pods.eventSubscribers() < n; i++) await new Promise((r) => setTimeout(r, 50));
  return pods.eventSubscribers();
}

t.test('daemon shutdown ends the streams with UNAVAILABLE', async (t) => {
  const reader = new EventReader(client!);
  t.equal(await waitSubscribers(1), 1);
  // What the daemon's stop does before it waits for in-flight calls.
  pods.endEventStreams();
  await reader.until('the end of the stream', () => reader.error !== undefined || reader.ended).catch(() => undefined);
  t.equal(reader.error?.code, GrpcStatus.UNAVAILABLE, 'UNAVAILABLE, so kubelet reconnects');
  t.equal(pods.eventSubscribers(), 0);
  const late = new EventReader(client!);
  await late.until('the end of a stream opened after shutdown began', () => late.error !== undefined || late.ended).catch(() => undefined);
  t.equal(late.error?.code, GrpcStatus.UNAVAILABLE, 'a stream opened after that is refused the same way');
  t.equal(pods.eventSubscribers(), 0);
});
