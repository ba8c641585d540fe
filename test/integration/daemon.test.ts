// The daemon spine against a real vmpod process: every RPC answers, garbage
// is rejected without harm, config errors name the key, one daemon per
// socket and root, state survives a restart, SIGTERM exits 0.

import { Client, credentials, status, type ServiceError } from '@grpc/grpc-js';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { IMAGE_SERVICE_RPCS, RUNTIME_SERVICE_RPCS, SERVER_STREAMING_RPCS } from '../../src/cri/proto';
import type { VmpodConfig } from '../../src/config/types';
import { spawnDaemon, startDaemon, waitFor } from '../helpers/daemon';

const DEADLINE_MS = 10_000;

/** Call any RPC by name with an empty request; resolve with the gRPC status code (0 = OK). */
function callEmpty(socket: string, service: string, method: string, streaming: boolean): Promise<number> {
  const client = new Client(`unix://${socket}`, credentials.createInsecure());
  const path = `/runtime.v1.${service}/${method}`;
  const ser = () => Buffer.alloc(0);
  const de = (b: Buffer) => b;
  return new Promise<number>((resolve) => {
    const deadline = Date.now() + DEADLINE_MS;
    if (streaming) {
      const call = client.makeServerStreamRequest(path, ser, de, {}, { deadline });
      // Response headers or one message are enough to know it answers (GetContainerEvents may have no message to send).
      call.on('metadata', () => call.cancel());
      call.on('data', () => call.cancel());
      call.on('error', (err: ServiceError) => resolve(err.code === status.CANCELLED ? 0 : err.code));
      call.on('end', () => resolve(0));
    } else {
      client.makeUnaryRequest(path, ser, de, {}, { deadline }, (err) => resolve(err ? err.code : 0));
    }
  }).finally(() => client.close());
}

t.test('every RPC of both services answers before its deadline', async (t) => {
  const d = await startDaemon(t);
  const all = [...RUNTIME_SERVICE_RPCS.map((m) => ['RuntimeService', m] as const), ...IMAGE_SERVICE_RPCS.map((m) => ['ImageService', m] as const)];
  for (const [service, method] of all) {
    const code = await callEmpty(d.socket, service, method, SERVER_STREAMING_RPCS.has(method));
    t.not(code, status.DEADLINE_EXCEEDED, `${service}/${method} answered`);
    t.not(code, status.UNAVAILABLE, `${service}/${method} did not drop the connection`);
    t.not(code, status.INTERNAL, `${service}/${method} did not fail internally on an empty request`);
  }
  const v = await d.client.runtime.Version({});
  t.equal(v.runtime_name, 'vmpod', 'daemon still serving after every RPC');
});

t.test('version, status and runtime config', async (t) => {
  const d = await startDaemon(t, { config: `[network]\ncni_conf_dir = "/nonexistent/vmpod-test-cni"` });
  const v = await d.client.runtime.Version({ version: '0.1.0' });
  t.match(v, { runtime_name: 'vmpod', runtime_api_version: 'v1', version: '0.1.0' });
  t.match(v.runtime_version, /^\d+\.\d+\.\d+/);
  const s = await d.client.runtime.Status({ verbose: true });
  const cond = Object.fromEntries(s.status!.conditions.map((c) => [c.type, c]));
  t.equal(cond.RuntimeReady?.status, true);
  t.equal(cond.NetworkReady?.status, false, 'no CNI config → network not ready');
  t.equal(cond.NetworkReady?.reason, 'NetworkPluginNotReady');
  t.match(cond.NetworkReady?.message, /nonexistent\/vmpod-test-cni/);
  t.same(
    s.runtime_handlers.map((h) => h.name),
    ['', 'runc', 'vm'],
    'the default handler "" and the configured ones',
  );
  const cfg = JSON.parse(s.info.config) as VmpodConfig;
  t.equal(cfg.network.cni_conf_dir, '/nonexistent/vmpod-test-cni', 'verbose info carries the effective config');
  const caps = JSON.parse(s.info.capabilities) as Array<{ name: string }>;
  t.ok(
    caps.some((c) => c.name === 'runc'),
    'verbose info carries host capabilities',
  );
  const rc = await d.client.runtime.RuntimeConfig({});
  t.equal(rc.linux?.cgroup_driver, 'CGROUPFS');
});

t.test('NetworkReady turns true when a CNI config appears', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-cni-conf-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const d = await startDaemon(t, { config: `[network]\ncni_conf_dir = "${dir}"` });
  const ready = async () => {
    const s = await d.client.runtime.Status({});
    return s.status!.conditions.find((c) => c.type === 'NetworkReady')!;
  };
  t.equal((await ready()).status, false);
  writeFileSync(join(dir, '10-test.conflist'), JSON.stringify({ cniVersion: '1.0.0', name: 'test', plugins: [{ type: 'loopback' }] }));
  const until = Date.now() + 20_000;
  while (!(await ready()).status && Date.now() < until) await new Promise((r) => setTimeout(r, 200));
  t.equal((await ready()).status, true, 'flipped without a restart');
});

t.test('a garbage request body gets INVALID_ARGUMENT and the daemon keeps serving', async (t) => {
  const d = await startDaemon(t);
  const client = new Client(`unix://${d.socket}`, credentials.createInsecure());
  t.teardown(() => client.close());
  // Truncated tag, truncated length, overlong varint, invalid wire type 7.
  const garbage = ['0f', '0aff', 'ffffffffff0f', '1f'].map((h) => Buffer.from(h, 'hex'));
  for (const body of garbage) {
    const err = await new Promise<ServiceError | null>((resolve) =>
      client.makeUnaryRequest(
        '/runtime.v1.RuntimeService/Version',
        () => body,
        (b: Buffer) => b,
        {},
        { deadline: Date.now() + DEADLINE_MS },
        (e) => resolve(e),
      ),
    );
    t.equal(err?.code, status.INVALID_ARGUMENT, `rejected ${body.toString('hex')}`);
    t.match(err?.details, /request body is not a valid protobuf message/);
  }
  const v = await d.client.runtime.Version({});
  t.equal(v.runtime_name, 'vmpod');
});

t.test('UpdateRuntimeConfig validates the pod CIDR and the value survives a restart', async (t) => {
  const first = await startDaemon(t, { dir: undefined });
  const bad = await first.client.runtime.UpdateRuntimeConfig({ runtime_config: { network_config: { pod_cidr: '10.1.2.300/24' } } }).catch((e: ServiceError) => e);
  t.equal((bad as ServiceError).code, status.INVALID_ARGUMENT);
  t.match((bad as ServiceError).details, /runtime_config\.network_config\.pod_cidr/);
  await first.client.runtime.UpdateRuntimeConfig({ runtime_config: { network_config: { pod_cidr: '10.244.1.0/24' } } });
  t.equal(await first.stop(), 0);
  const second = await startDaemon(t, { dir: first.dir });
  const s = await second.client.runtime.Status({ verbose: true });
  t.equal(s.info.podCIDR, '10.244.1.0/24', 'pod CIDR persisted under root');
});

t.test('the socket is mode 0660 and owned by root', async (t) => {
  const d = await startDaemon(t);
  const st = statSync(d.socket);
  t.equal(st.mode & 0o777, 0o660);
  t.equal(st.uid, 0);
  t.equal(st.gid, 0);
});

t.test('a second daemon on the same socket or root refuses to start', async (t) => {
  const d = await startDaemon(t);
  const sameSocket = spawnDaemon(['serve', '--listen', d.socket, '--root', join(d.dir, 'other-root'), '--state', join(d.dir, 'other-state')]);
  t.equal(await sameSocket.exited, 1);
  t.match(sameSocket.output(), /already answering on .*vmpod\.sock/);
  const sameRoot = spawnDaemon(['serve', '--listen', join(d.dir, 'other.sock'), '--root', d.root, '--state', d.state]);
  t.equal(await sameRoot.exited, 1);
  t.match(sameRoot.output(), /another vmpod \(pid \d+\) is using this root/);
  t.equal((await d.client.runtime.Version({})).runtime_name, 'vmpod', 'the first daemon is unharmed');
});

t.test('a stale socket file is replaced; a live non-vmpod listener is not', async (t) => {
  const d = await startDaemon(t);
  const dir = d.dir;
  t.equal(await d.stop(), 0);
  // A socket file nobody listens on: what a killed daemon leaves.
  const stale = join(dir, 'stale.sock');
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(stale, r));
  // Closing a net.Server unlinks its socket; recreate the file the way a crash leaves it.
  await new Promise<void>((r) => srv.close(() => r()));
  const srv2 = createServer();
  await new Promise<void>((r) => srv2.listen(stale, r));
  const live = spawnDaemon(['serve', '--listen', stale, '--root', join(dir, 'r2'), '--state', join(dir, 's2')]);
  t.equal(await live.exited, 1, 'refuses a socket something answers on');
  srv2.close();
  writeFileSync(join(dir, 'plain-file.sock'), 'not a socket');
  const notSock = spawnDaemon(['serve', '--listen', join(dir, 'plain-file.sock'), '--root', join(dir, 'r3'), '--state', join(dir, 's3')]);
  t.equal(await notSock.exited, 1);
  t.match(notSock.output(), /is not a socket/);
});

t.test('config errors name the key and stop start-up', async (t) => {
  const d = await startDaemon(t);
  const cases = [
    { desc: 'unknown key', toml: '[runtime.handlers.vm]\nvcpu = 2\n', key: 'runtime.handlers.vm.vcpu' },
    { desc: 'the VM settings moved into the handler tables', toml: '[microvm]\nvcpus = 2\n', key: 'microvm' },
    { desc: 'wrong type', toml: '[network]\ncni_bin_dirs = "/usr/lib/cni"\n', key: 'network.cni_bin_dirs' },
  ];
  for (const c of cases) {
    const path = join(d.dir, `${c.key}.toml`);
    writeFileSync(path, c.toml);
    const p = spawnDaemon(['serve', '--config', path, '--listen', join(d.dir, 'x.sock'), '--root', join(d.dir, 'rx'), '--state', join(d.dir, 'sx')]);
    t.equal(await p.exited, 1, c.desc);
    t.match(p.output(), `config: ${c.key}`, `${c.desc}: names ${c.key}`);
  }
  const missing = spawnDaemon(['serve', '--config', join(d.dir, 'nope.toml')]);
  t.equal(await missing.exited, 1, 'an explicitly named config that does not exist is an error');
  t.match(missing.output(), /nope\.toml: cannot read/);
});

t.test('SIGTERM stops accepting, finishes and exits 0 promptly', async (t) => {
  const d = await startDaemon(t);
  await d.client.runtime.Version({});
  const t0 = Date.now();
  const code = await d.stop();
  t.equal(code, 0);
  // A bound to catch a hang, not a performance assertion.
  t.ok(Date.now() - t0 < 15_000, 'exited within the shutdown bound');
  await waitFor(() => /vmpod stopped/.test(d.log()), 1000, 'the stop message');
});
