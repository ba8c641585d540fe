// The Prometheus endpoint against the real daemon (dist/src/main.js serve):
// with [metrics] enabled, a runc pod and container started through the CRI
// show in /metrics (the RunPodSandbox call with code OK, its latency, the
// pod and container by handler and state, the image pull); with metrics
// off (the default) nothing listens on the configured address.

import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { ContainerConfig } from '../../src/generated/cri/runtime/v1/ContainerConfig';
import type { PodSandboxConfig } from '../../src/generated/cri/runtime/v1/PodSandboxConfig';
import { startDaemon } from '../helpers/daemon';
import { busyboxEntries, makeTar, RegistryPusher } from '../helpers/image-builder';
import { freePort, startRegistry, type RunningRegistry } from '../helpers/registry';

t.setTimeout(5 * 60_000);

async function scrape(port: number): Promise<{ status: number; type: string; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: await res.text() };
}

/** The value of the sample `name{labels}` (labels in any order, all given), or undefined. */
function sample(body: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of body.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1], l[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return undefined;
}

/** Resolves true if something accepts a TCP connection on 127.0.0.1:`port`. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

let reg: RunningRegistry | undefined;
let imageRef = '';

t.before(async () => {
  reg = await startRegistry();
  await new RegistryPusher(reg).pushImage('test/busybox', 'v1', [{ tar: await makeTar([...busyboxEntries(), { name: 'bin/sleep', type: 'symlink', linkname: 'busybox' }]), compression: 'gzip' }], {
    config: { Cmd: ['/bin/sh'] },
  });
  imageRef = `${reg.host}/test/busybox:v1`;
});
t.teardown(async () => {
  await reg?.stop();
});

t.test('a runc pod start shows in /metrics', async (t) => {
  const port = await freePort();
  const d = await startDaemon(t, { config: `[metrics]\nenabled = true\naddress = "127.0.0.1:${port}"\n[registries."${reg!.host}"]\ninsecure = true\n` });
  await d.client.image.PullImage({ image: { image: imageRef } }, 120_000);
  // Host network: the pod needs no CNI configuration on this machine.
  const pod: PodSandboxConfig = {
    metadata: { name: 'metrics', uid: 'uid-metrics', namespace: 'default', attempt: 0 },
    hostname: 'metrics',
    log_directory: `${d.dir}/pod-logs`,
    linux: { security_context: { namespace_options: { network: 'NODE', pid: 'POD', ipc: 'POD' } } },
  };
  const { pod_sandbox_id: podId } = await d.client.runtime.RunPodSandbox({ config: pod, runtime_handler: 'runc' }, 60_000);
  const ctr: ContainerConfig = { metadata: { name: 'sleeper', attempt: 0 }, image: { image: imageRef }, command: ['/bin/sh', '-c', 'sleep 600'], log_path: 'sleeper.log' };
  const { container_id } = await d.client.runtime.CreateContainer({ pod_sandbox_id: podId, config: ctr, sandbox_config: pod });
  await d.client.runtime.StartContainer({ container_id });
  await d.client.runtime.ContainerStatus({ container_id: 'no-such-container' }).catch(() => undefined);

  const s = await scrape(port);
  t.equal(s.status, 200, 'GET /metrics answers 200');
  t.match(s.type, /^text\/plain; version=0\.0\.4/, 'Prometheus text exposition format');
  t.equal(sample(s.body, 'vmpod_cri_calls_total', { method: 'RunPodSandbox', code: 'OK' }), 1, 'one RunPodSandbox, answered OK');
  t.equal(sample(s.body, 'vmpod_cri_call_duration_seconds_count', { method: 'RunPodSandbox', code: 'OK' }), 1, 'its latency is in the histogram');
  t.equal(sample(s.body, 'vmpod_cri_calls_total', { method: 'ContainerStatus', code: 'NOT_FOUND' }), 1, 'a failed call is counted under its gRPC code');
  t.equal(sample(s.body, 'vmpod_pod_sandboxes', { handler: 'runc', state: 'SANDBOX_READY' }), 1, 'the pod, by handler and state');
  t.equal(sample(s.body, 'vmpod_containers', { handler: 'runc', state: 'CONTAINER_RUNNING' }), 1, 'the container, by its pod handler and state');
  t.equal(sample(s.body, 'vmpod_image_pulls_total', { result: 'ok' }), 1, 'the pull');
  t.ok((sample(s.body, 'vmpod_image_pull_bytes_total', {}) ?? 0) > 0, 'the pulled bytes');
  t.match(s.body, /^# TYPE vmpod_start_phase_duration_seconds histogram$/m, 'the start phase histogram is exported');
  t.equal(sample(s.body, 'vmpod_start_phase_duration_seconds_count', { operation: 'RunPodSandbox', step: 'network-setup' }), 1, "the pod start's network phase was timed");
  t.equal(sample(s.body, 'vmpod_start_phase_duration_seconds_count', { operation: 'RunPodSandbox', step: 'sandbox-create' }), 1, 'and its sandbox phase');
  t.equal(sample(s.body, 'vmpod_start_phase_duration_seconds_count', { operation: 'runc pod start', step: 'infra-start' }), 1, "and the runc controller's own steps");
  t.ok((sample(s.body, 'vmpod_pod_sandbox_memory_rss_bytes', { pod_sandbox_id: podId, handler: 'runc', namespace: 'default', pod: 'metrics' }) ?? 0) > 0, "the pod sandbox's resident memory");
  t.equal((await fetch(`http://127.0.0.1:${port}/other`)).status, 404, 'nothing but /metrics is served');

  await d.client.runtime.StopPodSandbox({ pod_sandbox_id: podId }, 60_000);
  await d.client.runtime.RemovePodSandbox({ pod_sandbox_id: podId }, 60_000);
  const after = await scrape(port);
  t.equal(sample(after.body, 'vmpod_pod_sandboxes', { handler: 'runc', state: 'SANDBOX_READY' }), undefined, 'a removed pod is no longer counted');
  t.equal(await d.stop(), 0, 'the daemon stops cleanly with a scraper having connected');
  t.notOk(await listening(port), 'the endpoint closed with the daemon');
});

t.test('with metrics off (the default), nothing listens', async (t) => {
  const port = await freePort();
  // The address is set but enabled is not: the default is off.
  const d = await startDaemon(t, { config: `[metrics]\naddress = "127.0.0.1:${port}"\n` });
  await d.client.runtime.Version({});
  t.notOk(await listening(port), `nothing on 127.0.0.1:${port}`);
  t.notMatch(d.log(), /metrics serving/, 'no endpoint in the log');
});

t.test('an address in use fails the start, naming it', async (t) => {
  const port = await freePort();
  const squatter = createServer();
  await new Promise<void>((resolve) => squatter.listen(port, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => squatter.close(() => resolve())));
  // The helper cleans up only after a daemon that served: this one never does.
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-metrics-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  await t.rejects(startDaemon(t, { dir, config: `[metrics]\nenabled = true\naddress = "127.0.0.1:${port}"\n` }), /EADDRINUSE/, 'the daemon refuses to start and says why');
});
