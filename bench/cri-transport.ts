// Benchmark: what the CRI socket's listener costs (src/cri/transport/,
// docs/cri-transport.md). One server process serves the same gRPC server and
// the same CRI handlers on two unix sockets: through the daemon's own
// listener, and with each accepted socket handed to the HTTP/2 server
// directly, which cannot serve clients that send their socket path as
// :authority. Three clients, interleaved round by round: on the listener's
// socket one that sends the socket path as :authority (kubelet before 1.30:
// served through the rewriter, a JavaScript stream between the socket and
// nghttp2) and one that sends `localhost` (kubelet 1.30+, crictl, grpc-js:
// handed to nghttp2 after its first request); on the other socket, the bare
// HTTP/2 server.
//
//   node dist/bench/cri-transport.js [--runs 7] [--calls 200] [--list-count 200] [--concurrency 16] [--json FILE]
//
// Medians of: one Version call; one ListContainers answering --list-count
// containers; a batch of --concurrency Version calls at once; and the
// server process's CPU time per Version and per ListContainers call. Each
// printed with the ratios to the bare server. The handlers are stubs
// (a fixed Version, a fixed list of realistic containers), so the numbers
// are the transport's, not the runtime's.

import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer as createNetServer } from 'node:net';
import { join } from 'node:path';
import { createCriServer } from '../src/cri/server';
import { listenCri } from '../src/cri/transport/listener';
import type { Container } from '../src/generated/cri/runtime/v1/Container';
import { silentLogger } from '../src/log';
import { criClient, type CriClient } from '../test/helpers/cri-client';
import { BenchArgsError, benchUsage, parseBenchArgs } from './lib/args';
import { Cleanup, runWithCleanup } from './lib/cleanup';
import { measured, renderComparison, type PhaseRow } from './lib/compare';
import { formatBytes } from './lib/format';
import { roundOrder } from './lib/interleave';
import { benchEnvironment, describeEnvironment, writeJsonReport } from './lib/report';
import { msSince } from './lib/stats';

const SPEC = {
  description: 'bench/cri-transport: unary CRI calls through the listener (rewriting, and handed over) vs sockets handed straight to the HTTP/2 server, same server, same run.',
  defaultRuns: 7,
  ints: {
    calls: { default: 200, min: 1, max: 100_000, help: 'sequential Version calls per side per round' },
    'list-count': { default: 200, min: 0, max: 20_000, help: 'containers in each ListContainers answer' },
    'list-calls': { default: 50, min: 1, max: 10_000, help: 'sequential ListContainers calls per side per round' },
    concurrency: { default: 16, min: 1, max: 1000, help: 'Version calls in flight at once in the batch measurement' },
    batches: { default: 20, min: 1, max: 10_000, help: 'concurrent batches per side per round' },
  },
};

/** Set in the server child: the directory to put its two sockets in. */
const SERVE_ENV = 'VMPOD_BENCH_CRI_TRANSPORT_SERVE';

type Side = 'rewriter' | 'handed-over' | 'direct';
const SIDES: readonly Side[] = ['rewriter', 'handed-over', 'direct'];
/** The listener's socket and the bare server's. */
const socketOf = (dir: string, side: Side) => join(dir, side === 'direct' ? 'direct.sock' : 'listener.sock');

/** Containers as kubelet's pods leave them: ids, metadata, image, and kubelet's labels and annotations. */
function containers(n: number): Container[] {
  return Array.from({ length: n }, (_, i) => ({
    id: randomBytes(32).toString('hex'),
    pod_sandbox_id: randomBytes(32).toString('hex'),
    metadata: { name: `app-${i}`, attempt: 0 },
    image: { image: 'registry.example:5000/team/app:1.2.3' },
    image_ref: `sha256:${randomBytes(32).toString('hex')}`,
    state: 'CONTAINER_RUNNING',
    created_at: String(Date.now() * 1e6),
    labels: {
      'io.kubernetes.container.name': `app-${i}`,
      'io.kubernetes.pod.name': `app-${i}-7d9c8b6f5-x2k4q`,
      'io.kubernetes.pod.namespace': 'default',
      'io.kubernetes.pod.uid': randomBytes(16).toString('hex'),
    },
    annotations: {
      'io.kubernetes.container.hash': '3c5f1a2b',
      'io.kubernetes.container.restartCount': '0',
      'io.kubernetes.container.terminationMessagePath': '/dev/termination-log',
      'io.kubernetes.container.terminationMessagePolicy': 'File',
      'io.kubernetes.pod.terminationGracePeriod': '30',
    },
    image_id: `sha256:${randomBytes(32).toString('hex')}`,
  }));
}

/** The server child: one gRPC server, both listeners; reports its CPU time when asked. */
async function serve(dir: string, listCount: number): Promise<void> {
  const list = containers(listCount);
  const { server } = createCriServer(
    {
      runtime: {
        Version: async () => ({ version: '0.1.0', runtime_name: 'vmpod', runtime_version: '0.1.0', runtime_api_version: 'v1' }),
        ListContainers: async () => ({ containers: list }),
      },
      image: {},
    },
    silentLogger,
  );
  await new Promise<void>((resolve) => createNetServer((socket) => server.serve(socket)).listen(socketOf(dir, 'direct'), resolve));
  await listenCri(server, socketOf(dir, 'handed-over'), silentLogger);
  process.on('message', (m) => {
    if (m === 'cpu') {
      const u = process.cpuUsage();
      process.send!({ cpuMs: (u.user + u.system) / 1000 });
    }
  });
  process.on('disconnect', () => process.exit(0));
  process.send!('ready');
}

function serverCpuMs(child: ChildProcess): Promise<number> {
  return new Promise((resolve) => {
    child.once('message', (m: { cpuMs: number }) => resolve(m.cpuMs));
    child.send('cpu');
  });
}

interface Samples {
  version: number[];
  list: number[];
  batch: number[];
  versionCpu: number[];
  listCpu: number[];
}

async function inner(args: ReturnType<typeof parseBenchArgs<keyof typeof SPEC.ints>>, cleanup: Cleanup): Promise<void> {
  const env = benchEnvironment();
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-bench-cri-transport-'));
  cleanup.add(`remove ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
  const child = fork(__filename, [], { env: { ...process.env, [SERVE_ENV]: dir }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  cleanup.add('stop the server child', () => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  await new Promise<void>((resolve, reject) => {
    child.once('message', () => resolve());
    child.once('exit', (code) => reject(new Error(`the server child exited with ${code} before serving`)));
  });
  child.removeAllListeners('exit');

  // The rewriter side sends what kubelet before 1.30 sends: the socket path.
  const clients = Object.fromEntries(SIDES.map((s) => [s, criClient(socketOf(dir, s), s === 'rewriter' ? { authority: socketOf(dir, s) } : {})])) as Record<Side, CriClient>;
  cleanup.add('close the clients', () => SIDES.forEach((s) => clients[s].close()));
  const empty = (): Samples => ({ version: [], list: [], batch: [], versionCpu: [], listCpu: [] });
  const samples: Record<Side, Samples> = { rewriter: empty(), 'handed-over': empty(), direct: empty() };
  const { calls, concurrency, batches } = args.ints;
  const listCount = args.ints['list-count'];
  const listCalls = args.ints['list-calls'];

  // Warm-up: connections, JIT, both handlers; and the answer size, checked once.
  let listBytes = 0;
  for (const s of SIDES) {
    for (let i = 0; i < 100; i++) await clients[s].runtime.Version({});
    const res = await clients[s].runtime.ListContainers({});
    if (res.containers.length !== listCount) throw new Error(`${s}: ListContainers answered ${res.containers.length} containers, not ${listCount}`);
    listBytes = JSON.stringify(res).length;
  }

  for (let r = 0; r < args.runs && !cleanup.started; r++) {
    for (const s of roundOrder(SIDES, r)) {
      const c = clients[s];
      let cpu = await serverCpuMs(child);
      for (let i = 0; i < calls; i++) {
        const start = process.hrtime.bigint();
        await c.runtime.Version({});
        samples[s].version.push(msSince(start));
      }
      let now = await serverCpuMs(child);
      samples[s].versionCpu.push((now - cpu) / calls);
      cpu = now;
      for (let i = 0; i < listCalls; i++) {
        const start = process.hrtime.bigint();
        await c.runtime.ListContainers({});
        samples[s].list.push(msSince(start));
      }
      now = await serverCpuMs(child);
      samples[s].listCpu.push((now - cpu) / listCalls);
      for (let b = 0; b < batches; b++) {
        const start = process.hrtime.bigint();
        await Promise.all(Array.from({ length: concurrency }, () => c.runtime.Version({})));
        samples[s].batch.push(msSince(start));
      }
    }
  }

  const rowsFor = (pair: readonly [Side, Side]): PhaseRow[] => {
    const row = (label: string, pick: (x: Samples) => number[]): PhaseRow => ({ label, outcomes: pair.map((s) => measured(pick(samples[s]))) });
    return [
      row('Version, one call', (x) => x.version),
      row(`ListContainers, ${listCount} containers (~${formatBytes(listBytes)} as JSON)`, (x) => x.list),
      row(`Version x ${concurrency} concurrent, per batch`, (x) => x.batch),
      row('server CPU per Version call', (x) => x.versionCpu),
      row('server CPU per ListContainers call', (x) => x.listCpu),
    ];
  };
  console.log(describeEnvironment(env));
  console.log(`${args.runs} rounds, alternating which side goes first; per round and side: ${calls} Version, ${listCalls} ListContainers, ${batches} batches of ${concurrency}\n`);
  // Each way through the listener against the bare server: the handed-over connection is what kubelet 1.30+ gets.
  console.log(renderComparison(['handed-over', 'direct'], rowsFor(['handed-over', 'direct'])));
  console.log('');
  console.log(renderComparison(['rewriter', 'direct'], rowsFor(['rewriter', 'direct'])));
  if (args.json) writeJsonReport(args.json, 'cri-transport', env, { args: { runs: args.runs, ...args.ints }, listBytes, samples });
}

async function main(): Promise<void> {
  const serveDir = process.env[SERVE_ENV];
  let args;
  try {
    args = parseBenchArgs(process.argv.slice(2), SPEC);
  } catch (err) {
    if (!(err instanceof BenchArgsError)) throw err;
    process.stderr.write(`${err.message}\n\n${benchUsage('dist/bench/cri-transport.js', SPEC)}\n`);
    process.exit(2);
  }
  if (serveDir) return serve(serveDir, args.ints['list-count']);
  if (args.help) {
    console.log(benchUsage('dist/bench/cri-transport.js', SPEC));
    return;
  }
  const cleanup = new Cleanup();
  process.exitCode = await runWithCleanup(cleanup, () => inner(args, cleanup));
}

if (require.main === module) void main();
