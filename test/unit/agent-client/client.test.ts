import t from 'tap';
import { Writer } from 'protobufjs/minimal';
import { createServer } from 'node:net';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AgentClient, AgentResponseError, AgentUnavailableError, serialConnector } from '../../../src/agent-client';
import { primeBackoffMs, primeHealthTimeoutMs } from '../../../src/agent-client/client';
import { DeadlineExceededError, RemoteStatusError, TtrpcServer } from '../../../common/ttrpc';
import { encodeFrame, MessageType } from '../../../common/ttrpc/frame';
import { encodeResponse as encodeTtrpcResponse } from '../../../common/ttrpc/messages';
import { GrpcStatus } from '../../../common/errors';
import { AGENT_SERVICE, HealthResponse_Status } from '../../../common/generated/agent/agent';
import { encodeResponse } from '../../../common/agent-protocol/codec';
import type { OciSpec } from '../../../src/oci/types';
import { duplexPair } from '../common/ttrpc/pair';
import { ociSpec, readAll, startClient, startHarness } from '../agent/harness';

const setup = startClient;

t.test('health and version', async (t) => {
  const { client } = setup(t);
  const h = await client.health();
  t.equal(h.status, HealthResponse_Status.SERVING, 'serving');
  const v = await client.call('Version', {});
  t.equal(v.protocol_version, 1, 'protocol version');
  t.equal(v.node_version, process.version, 'node version');
});

t.test('CreateSandbox writes name service files, sysctls and mounts the 9p share', async (t) => {
  const { h, client } = setup(t);
  await client.call('CreateSandbox', {
    sandbox_id: 'sb1',
    hostname: 'pod-a',
    dns: { nameservers: ['10.0.0.10'], searches: ['default.svc.cluster.local'], options: ['ndots:5'] },
    shared_mounts: [{ tag: 'vmpod-shared', mount_point: `/run/vmpod-test-${process.pid}/shared`, msize: 262144, cache: 'mmap', read_only: false }],
    sysctls: { 'net.ipv4.ip_forward': '1' },
  });
  t.equal(readFileSync(join(h.dirs.procSys, 'kernel/hostname'), 'utf8'), 'pod-a', 'hostname');
  t.equal(readFileSync(join(h.dirs.run, 'resolv.conf'), 'utf8'), 'nameserver 10.0.0.10\nsearch default.svc.cluster.local\noptions ndots:5\n', 'resolv.conf');
  t.equal(readFileSync(join(h.dirs.procSys, 'net/ipv4/ip_forward'), 'utf8'), '1', 'sysctl');
  const mount = h.commands.find((c) => c.args[0] === 'mount');
  t.same(mount?.args, ['mount', '-t', '9p', '-o', 'trans=virtio,version=9p2000.L,msize=262144,cache=mmap', 'vmpod-shared', `/run/vmpod-test-${process.pid}/shared`], '9p mount command');
  const cases = [
    { desc: 'bad cache mode', req: { shared_mounts: [{ tag: 't', mount_point: '/run/x', msize: 0, cache: 'bogus', read_only: false }] } },
    { desc: 'bad sysctl key', req: { sysctls: { '../../etc/passwd': 'x' } } },
    { desc: 'bad hostname', req: { hostname: 'a b' } },
  ];
  for (const c of cases) {
    const err = await client.call('CreateSandbox', c.req).catch((e: unknown) => e);
    t.type(err, RemoteStatusError, c.desc);
    t.equal((err as RemoteStatusError).grpcStatus, GrpcStatus.INVALID_ARGUMENT, `${c.desc}: INVALID_ARGUMENT`);
  }
  // The mount point we created for the test lives under /run; remove it.
  t.teardown(() => rmSync(`/run/vmpod-test-${process.pid}`, { recursive: true, force: true }));
});

t.test('container lifecycle: output, exit code, remove', async (t) => {
  const { h, client } = setup(t);
  mkdirSync(join(h.dirs.share, 'c1', 'rootfs'), { recursive: true });
  await client.call('CreateContainer', { container_id: 'c1', oci_spec_json: ociSpec(['/bin/sh', '-c', 'echo hello; echo oops >&2; exit 3']), rootfs_path: 'c1/rootfs' });
  const cfg = JSON.parse(readFileSync(join(h.dirs.bundles, 'c1', 'config.json'), 'utf8')) as OciSpec;
  t.equal(cfg.root.path, join(h.dirs.share, 'c1/rootfs'), 'rootfs points into the share');
  t.same(
    cfg.linux.namespaces.map((n) => n.type),
    ['pid', 'mount'],
    'network namespace dropped (VM network is the pod network)',
  );
  t.equal(cfg.linux.cgroupsPath, '/vmpod/c1', 'guest cgroup path');
  const { pid } = await client.call('StartContainer', { container_id: 'c1' });
  t.ok(pid > 0, 'pid reported');
  const w = await client.waitProcess({ container_id: 'c1', wait_ms: 5000 });
  t.same([w.exited, w.exit_code], [true, 3], 'exit code reported');
  t.equal(await readAll(client, 'c1', '', 'readStdout'), 'hello\n', 'stdout');
  t.equal(await readAll(client, 'c1', '', 'readStderr'), 'oops\n', 'stderr');
  await client.call('RemoveContainer', { container_id: 'c1' });
  await client.call('RemoveContainer', { container_id: 'c1' }); // CRI rule: removing what is gone succeeds
  const err = await client.call('StartContainer', { container_id: 'c1' }).catch((e: unknown) => e);
  t.equal((err as RemoteStatusError).grpcStatus, GrpcStatus.NOT_FOUND, 'removed container is gone');
  const bad = await client.call('CreateContainer', { container_id: 'c2', oci_spec_json: ociSpec(['true']), rootfs_path: '../../etc' }).catch((e: unknown) => e);
  t.equal((bad as RemoteStatusError).grpcStatus, GrpcStatus.INVALID_ARGUMENT, 'rootfs path escaping the share is refused');
});

t.test('exec with stdin, signals, stats and OOM events', async (t) => {
  const { h, client } = setup(t);
  await client.call('CreateContainer', { container_id: 'c1', oci_spec_json: ociSpec(['/bin/sh', '-c', 'read x; echo got $x']), rootfs_path: 'c1/rootfs', stdin: true });
  await client.call('StartContainer', { container_id: 'c1' });
  await client.call('ExecProcess', { container_id: 'c1', exec_id: 'e1', process_json: Buffer.from(JSON.stringify({ args: ['cat'], env: [] })), stdin: true });
  const wr = await client.call('WriteStdin', { container_id: 'c1', exec_id: 'e1', data: Buffer.from('abc') });
  t.equal(wr.written, 3, 'written');
  await client.call('CloseStdin', { container_id: 'c1', exec_id: 'e1' });
  t.equal(await readAll(client, 'c1', 'e1', 'readStdout'), 'abc', 'exec echoed stdin');
  t.same((await client.waitProcess({ container_id: 'c1', exec_id: 'e1', wait_ms: 5000 })).exit_code, 0, 'exec exit code');

  const cg = join(h.dirs.cgroup, 'vmpod', 'c1');
  mkdirSync(cg, { recursive: true });
  writeFileSync(join(cg, 'cpu.stat'), 'usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n');
  writeFileSync(join(cg, 'memory.current'), '4096000\n');
  writeFileSync(join(cg, 'memory.max'), 'max\n');
  writeFileSync(join(cg, 'memory.stat'), 'anon 2000000\ninactive_file 96000\n');
  writeFileSync(join(cg, 'pids.current'), '2\n');
  writeFileSync(join(cg, 'memory.events'), 'low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n');
  const s = await client.call('StatsContainer', { container_id: 'c1' });
  t.same(
    [s.cpu_usage_usec, s.memory_usage_bytes, s.memory_working_set_bytes, s.memory_limit_bytes, s.memory_rss_bytes, s.pids_current, s.oom_kill_count],
    [1500, 4096000, 4000000, 0, 2000000, 2, 1],
    'stats from the guest cgroup',
  );
  const oom = await client.getOOMEvent({ wait_ms: 3000 });
  t.equal(oom.container_id, 'c1', 'OOM event for the container');

  await client.call('SignalProcess', { container_id: 'c1', signal: 9 });
  const w = await client.waitProcess({ container_id: 'c1', wait_ms: 5000 });
  t.same([w.exited, w.exit_code], [true, 137], 'killed by SIGKILL → 137');
  t.ok(w.oom_killed, 'exit reports the OOM kill');
  t.ok(
    h.commands.some((c) => c.cmd === 'crun' && c.args.join(' ') === 'kill --all c1 9'),
    'crun kill used',
  );
});

t.test('output survives the host link dropping; the client reconnects', async (t) => {
  const { h, client } = setup(t);
  await client.call('CreateContainer', { container_id: 'c1', oci_spec_json: ociSpec(['/bin/sh', '-c', 'echo before; read x; echo after']), rootfs_path: 'r', stdin: true });
  await client.call('StartContainer', { container_id: 'c1' });
  const pending = client.waitProcess({ container_id: 'c1', wait_ms: 10_000 });
  for (const end of h.serverEnds) end.destroy(); // the daemon restarts / the link drops
  await t.rejects(pending, AgentUnavailableError, 'in-flight call fails with AgentUnavailableError');
  await client.call('CloseStdin', { container_id: 'c1' });
  t.equal(h.connects, 2, 'the next call reconnected');
  t.equal(await readAll(client, 'c1', '', 'readStdout'), 'before\nafter\n', 'no output lost across the reconnect');
});

t.test('port-forward and CopyFile', async (t) => {
  const { h, client } = setup(t);
  const echo = createServer((s) => s.pipe(s));
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  t.teardown(() => echo.close());
  const port = (echo.address() as { port: number }).port;
  const pf = await client.portForward(port);
  pf.send(Buffer.from('ping'));
  pf.closeSend();
  let got = '';
  for await (const b of pf) got += b.toString();
  await pf.done();
  t.equal(got, 'ping', 'bytes went to the guest port and back');

  const target = join(h.dirs.run, 'sub', 'file.txt');
  await client.call('CopyFile', { path: target, offset: 0, data: Buffer.from('hello '), file_mode: 0o600, make_parents: true });
  await client.call('CopyFile', { path: target, offset: 6, data: Buffer.from('world') });
  t.equal(readFileSync(target, 'utf8'), 'hello world', 'chunks written at their offsets');
  const err = await client.call('CopyFile', { path: '/etc/passwd', data: Buffer.from('x') }).catch((e: unknown) => e);
  t.equal((err as RemoteStatusError).grpcStatus, GrpcStatus.INVALID_ARGUMENT, 'paths outside /run/vmpod refused');
});

// A hostile or broken guest: answers crafted by hand.
function hostileClient(t: { teardown(fn: () => void): void }, answers: Record<string, () => Uint8Array | Promise<Uint8Array>>): AgentClient {
  const server = new TtrpcServer();
  for (const [m, f] of Object.entries(answers)) server.register(AGENT_SERVICE, m, async () => f());
  const client = new AgentClient({
    connect: async () => {
      const [a, b] = duplexPair();
      server.serve(b);
      return a;
    },
    callTimeoutMs: 200,
  });
  t.teardown(() => client.close());
  return client;
}

t.test('responses from a hostile guest are validated', async (t) => {
  const client = hostileClient(t, {
    Version: () => encodeResponse('Version', { agent_version: 'x'.repeat(5000) }),
    WaitProcess: () => encodeResponse('WaitProcess', { exited: true, exit_code: 999 }),
    StartContainer: () => Buffer.from([0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
    Health: () => Buffer.from([0x0a, 0x50, 0x01]),
    ReadStdout: () => encodeResponse('ReadStdout', { data: Buffer.alloc((1 << 20) + 1) }),
    GetOOMEvent: () => new Promise(() => undefined),
    // int64 -5 on the wire where a uint64 is expected.
    StatsContainer: () =>
      Writer.create()
        .uint32((5 << 3) | 0)
        .int64(-5)
        .finish(),
  });
  const cases: Array<{ desc: string; call: () => Promise<unknown>; type: new (...a: never[]) => Error }> = [
    { desc: 'overlong string', call: () => client.call('Version', {}), type: AgentResponseError },
    { desc: 'exit code out of range', call: () => client.waitProcess({ wait_ms: 0 }), type: AgentResponseError },
    { desc: 'pid beyond uint32', call: () => client.call('StartContainer', { container_id: 'x' }), type: AgentResponseError },
    { desc: 'malformed protobuf', call: () => client.health(), type: AgentResponseError },
    { desc: 'chunk above 1 MiB', call: () => client.readStdout({ wait_ms: 0 }), type: AgentResponseError },
    { desc: 'negative number in a uint64 field', call: () => client.call('StatsContainer', { container_id: 'x' }), type: AgentResponseError },
    { desc: 'guest never answers', call: () => client.getOOMEvent({ wait_ms: 0 }, { timeoutMs: 100 }), type: DeadlineExceededError },
  ];
  for (const c of cases) await t.rejects(c.call(), c.type, c.desc);
});

// Moved here from the output pump's test when the pacing moved into the client:
// every long-poll loop (output pumps, exit and OOM waiters, exec waits) gets it.
t.test('a guest that answers long polls empty at once is not polled in a tight loop', async (t) => {
  let polls = 0;
  const client = hostileClient(t, {
    ReadStdout: () => (polls++, encodeResponse('ReadStdout', {})),
    WaitProcess: () => (polls++, encodeResponse('WaitProcess', { exited: false })),
    GetOOMEvent: () => (polls++, encodeResponse('GetOOMEvent', {})),
  });
  const t0 = Date.now();
  for (let i = 0; i < 3; i++) {
    await client.readStdout({ wait_ms: 1000 });
    await client.waitProcess({ wait_ms: 1000 });
    await client.getOOMEvent({ wait_ms: 1000 });
  }
  t.equal(polls, 9, 'every answer read');
  t.ok(Date.now() - t0 >= 9 * 90, `nine early empty answers cost at least ~9 × 100 ms (took ${Date.now() - t0} ms)`);
  const t1 = Date.now();
  for (let i = 0; i < 5; i++) await client.waitProcess({ wait_ms: 0 });
  t.ok(Date.now() - t1 < 400, `a poll that did not ask to wait is not paced (5 took ${Date.now() - t1} ms)`);
});

t.test('a guest that is gone fails cleanly', async (t) => {
  const client = new AgentClient({ connect: () => Promise.reject(new Error('connect ENOENT /run/vmpod/x/agent.sock')), connectTimeoutMs: 500 });
  t.teardown(() => client.close());
  await t.rejects(client.health(), AgentUnavailableError, 'connect failure');
  const hang = new AgentClient({ connect: () => new Promise(() => undefined), connectTimeoutMs: 100 });
  t.teardown(() => hang.close());
  await t.rejects(hang.health(), AgentUnavailableError, 'connect timeout');
});

t.test('a connection that completes after the connect timeout is closed, not leaked', async (t) => {
  const [late, peer] = duplexPair();
  t.teardown(() => peer.destroy());
  let arrive!: (d: typeof late) => void;
  const client = new AgentClient({ connect: () => new Promise((r) => (arrive = r)), connectTimeoutMs: 50 });
  t.teardown(() => client.close());
  await t.rejects(client.health(), AgentUnavailableError, 'connect timeout');
  arrive(late);
  await new Promise((r) => setImmediate(r));
  t.ok(late.destroyed, 'the late connection was destroyed');
});

t.test('OOM kill detected from the parent cgroup after crun removed the container cgroup', async (t) => {
  const { h, client } = setup(t);
  await client.call('CreateContainer', { container_id: 'c3', oci_spec_json: ociSpec(['/bin/sh', '-c', 'read x; kill -9 $$']), rootfs_path: 'r', stdin: true });
  await client.call('StartContainer', { container_id: 'c3' });
  // The kernel's OOM killer counts in the (hierarchical) parent; the container's own cgroup is already gone.
  mkdirSync(join(h.dirs.cgroup, 'vmpod'), { recursive: true });
  writeFileSync(join(h.dirs.cgroup, 'vmpod', 'memory.events'), 'oom 1\noom_kill 1\n');
  await client.call('WriteStdin', { container_id: 'c3', data: Buffer.from('go\n') });
  const w = await client.waitProcess({ container_id: 'c3', wait_ms: 5000 });
  t.same([w.exited, w.exit_code, w.oom_killed], [true, 137, true], 'SIGKILLed init with a grown parent count is an OOM kill');
  t.equal((await client.getOOMEvent({ wait_ms: 1000 })).container_id, 'c3', 'OOM event');
  t.equal((await client.getOOMEvent({ wait_ms: 0 })).container_id, '', 'reported once');
});

t.test("over a real unix socket, as QEMU's serial chardev presents it", async (t) => {
  const h = startHarness();
  const path = join(h.root, 'agent.sock');
  const srv = createServer((conn) => h.serve(conn));
  await new Promise<void>((r) => srv.listen(path, r));
  const client = new AgentClient({ connect: serialConnector(path) });
  t.teardown(() => {
    client.close();
    srv.close();
    h.close();
  });
  t.equal((await client.health()).status, HealthResponse_Status.SERVING, 'health over AF_UNIX');
  const many = await Promise.all(Array.from({ length: 50 }, () => client.call('Version', {})));
  t.ok(
    many.every((v) => v.protocol_version === 1),
    '50 concurrent calls multiplexed on one socket',
  );
  const missing = new AgentClient({ connect: serialConnector(join(h.root, 'nope.sock')) });
  t.teardown(() => missing.close());
  await t.rejects(missing.health(), AgentUnavailableError, 'socket that does not exist');
});

t.test('an OOM event naming something that is not a container id is rejected', async (t) => {
  const client = hostileClient(t, { GetOOMEvent: () => encodeResponse('GetOOMEvent', { container_id: '../../etc/passwd' }) });
  await t.rejects(client.getOOMEvent({ wait_ms: 0 }), AgentResponseError);
});

// Regression: over virtio-serial the agent drops what arrives on its port
// until it has noticed the previous host connection ended, so the first
// request on a reconnection was lost and timed out (seen as a flaky
// ReadStdout deadline right after a reconnect).
t.test('a reconnection is primed with Health until the agent answers, so no request is lost', async (t) => {
  const server = new TtrpcServer();
  server.register(AGENT_SERVICE, 'Health', async () => encodeResponse('Health', { status: HealthResponse_Status.SERVING }));
  server.register(AGENT_SERVICE, 'Version', async () => encodeResponse('Version', { protocol_version: 1 }));
  const ends: Array<{ destroy(): void }> = [];
  let dials = 0;
  const client = new AgentClient({
    connect: async () => {
      const [hostEnd, relayIn] = duplexPair();
      const [relayOut, agentEnd] = duplexPair();
      server.serve(agentEnd);
      // Every connection after the first loses what the host sends in its first 300 ms.
      const dropUntil = dials++ === 0 ? 0 : Date.now() + 300;
      relayIn.on('data', (d: Buffer) => Date.now() >= dropUntil && relayOut.write(d));
      relayOut.on('data', (d: Buffer) => relayIn.write(d));
      ends.push(hostEnd);
      return hostEnd;
    },
    callTimeoutMs: 2000,
  });
  t.teardown(() => client.close());
  t.equal((await client.call('Version', {})).protocol_version, 1, 'first connection');
  ends[0].destroy(); // the host side drops the link, as a daemon restart does
  await new Promise((r) => setTimeout(r, 50));
  t.equal((await client.call('Version', {})).protocol_version, 1, 'the first real request after the reconnect is answered');
  t.equal(dials, 2, 'one reconnection');
});

t.test("a restarted daemon reattaching over serial drops answers to the previous daemon's calls instead of failing the connection", async (t) => {
  const server = new TtrpcServer();
  server.register(AGENT_SERVICE, 'Health', async () => encodeResponse('Health', { status: HealthResponse_Status.SERVING }));
  server.register(AGENT_SERVICE, 'Version', async () => encodeResponse('Version', { protocol_version: 1 }));
  const client = new AgentClient({
    connect: async () => {
      const [hostEnd, agentEnd] = duplexPair();
      // The port still carries the answer to stream 35 of the previous daemon (a long poll it had open) before this one's.
      agentEnd.write(encodeFrame(35, MessageType.RESPONSE, 0, encodeTtrpcResponse({ payload: encodeResponse('Version', { protocol_version: 1 }) })));
      server.serve(agentEnd);
      return hostEnd;
    },
    callTimeoutMs: 2000,
    agentMayHoldOldConnection: true,
  });
  t.teardown(() => client.close());
  t.equal((await client.call('Version', {})).protocol_version, 1, 'the connection is proved and used');
});

t.test('readAgentLog: the agent log lines, and hostile answers rejected', async (t) => {
  const { h, client } = setup(t);
  h.deps.logRing.push('info', 'vmpod-agent starting');
  h.deps.logRing.push('warn', 'second');
  const got = await client.readAgentLog({ since_seq: 0 });
  t.same(
    got.lines.map((l) => [l.seq, l.level, l.msg]),
    [
      [0, 'info', 'vmpod-agent starting'],
      [1, 'warn', 'second'],
    ],
    'lines in order',
  );
  t.equal(got.next_seq, 2, 'next_seq continues after them');

  const line = (seq: number, msg = 'm', level = 'info'): { seq: number; time_unix_nano: number; level: string; msg: string } => ({ seq, time_unix_nano: 1, level, msg });
  const cases: Array<{ desc: string; answer: object; since?: number; maxBytes?: number }> = [
    { desc: 'a line over 1024 characters', answer: { lines: [line(0, 'x'.repeat(1025))], next_seq: 1 } },
    { desc: 'more than 1000 lines', answer: { lines: Array.from({ length: 1001 }, (_, i) => line(i)), next_seq: 1001 } },
    { desc: 'more lines than any repeated field may hold', answer: { lines: Array.from({ length: 5000 }, (_, i) => line(i)), next_seq: 5000 } },
    { desc: 'an unknown level', answer: { lines: [line(0, 'm', '\u001b[31mpanic')], next_seq: 1 } },
    { desc: 'seq not ascending', answer: { lines: [line(3), line(3)], next_seq: 4 } },
    { desc: 'a line before since_seq', answer: { lines: [line(4)], next_seq: 5 }, since: 5 },
    { desc: 'next_seq not past the last line', answer: { lines: [line(7)], next_seq: 7 } },
    { desc: 'more text than max_bytes allows', answer: { lines: Array.from({ length: 5 }, (_, i) => line(i, 'y'.repeat(1000))), next_seq: 5 }, maxBytes: 4096 },
  ];
  for (const c of cases) {
    const hostile = hostileClient(t, { ReadAgentLog: () => encodeResponse('ReadAgentLog', c.answer) });
    await t.rejects(hostile.readAgentLog({ since_seq: c.since ?? 0, max_bytes: c.maxBytes ?? 0 }), AgentResponseError, c.desc);
  }
});

// A guest that answers every Health probe on a new connection with an error at
// once used to make prime() call Health again at once, on the daemon's only
// thread, until the connect timeout: a busy loop any guest could trigger. The
// clock is fake: the test counts attempts and pauses, it measures no time.
t.test('priming backs off exponentially, capped, against a guest that fails every Health', async (t) => {
  const server = new TtrpcServer();
  let probes = 0;
  server.register(AGENT_SERVICE, 'Health', async () => {
    probes++;
    throw new Error('not ready, ever');
  });
  let now = 0;
  const pauses: number[] = [];
  const client = new AgentClient({
    connect: async () => {
      const [hostEnd, agentEnd] = duplexPair();
      server.serve(agentEnd);
      return hostEnd;
    },
    agentMayHoldOldConnection: true,
    connectTimeoutMs: 10_000,
    clock: {
      now: () => now,
      sleep: async (ms) => {
        pauses.push(ms);
        now += ms;
        // Without a pause the fake clock never moves and the loop would never end: fail loudly instead.
        if (pauses.length > 1000) throw new Error('priming does not back off');
      },
    },
  });
  t.teardown(() => client.close());
  await t.rejects(client.health(), AgentUnavailableError, 'gives up at the connect timeout');
  t.ok(probes >= 5 && probes <= 30, `a bounded number of probes over 10 s of (fake) time: ${probes}`);
  t.equal(pauses.length, probes - 1, 'a pause between every two probes');
  t.same(pauses.slice(0, 6), [20, 40, 80, 160, 320, 640], 'pauses double');
  t.ok(
    pauses.every((p) => p <= 1000),
    `and stop growing at 1 s (${pauses.join(', ')})`,
  );
  t.equal(
    pauses.reduce((a, b) => a + b, 0),
    10_000,
    'the last pause ends at the deadline, not past it',
  );
  t.same([primeBackoffMs(1), primeBackoffMs(7), primeBackoffMs(1000)], [20, 1000, 1000], 'primeBackoffMs: first, capped, no overflow');
  t.same([1, 2, 3, 4, 5, 1000].map(primeHealthTimeoutMs), [150, 300, 600, 1000, 1000, 1000], 'primeHealthTimeoutMs: a short first probe, then longer ones up to 1 s');
});
