// Benchmark: the streaming server (src/streaming, docs/streaming.md) with a
// runc pod, each path against a floor measured in the same run on the same
// daemon and pod:
//
//   node dist/bench/streaming.js [--runs 5] [--execs 50] [--echoes 200] [--mib 64] [--json FILE]
//
// * exec of /bin/true through the streaming server, whole (Exec call, the
//   upgrade, the process, the status), over WebSocket v5 and over SPDY v4
//   (crictl's and kubelet's client), against ExecSync /bin/true: the same
//   runc exec without a stream;
// * the interactive round trip inside one exec of `cat` over WebSocket v5:
//   one byte in, the same byte back (no floor: it is the number a shell user feels);
// * port-forward throughput: an HTTP GET of --mib MiB from busybox httpd in
//   the pod, over WebSocket v4 and SPDY port-forward, against the same GET
//   straight to the pod IP over TCP.
//
// Medians over rounds; each round runs every path, in rotating order. The
// run re-executes itself in fresh network, mount and PID namespaces
// (bench/lib/isolate.ts) like bench/runc-pod.

import { connect } from 'node:net';
import { join } from 'node:path';
import WebSocket from 'ws';
import { dialSpdy } from '../src/streaming/spdy';
import type { TestDaemon } from '../test/helpers/daemon';
import { busyboxEntries, makeTar, RegistryPusher, type TarEntry } from '../test/helpers/image-builder';
import { startRegistry } from '../test/helpers/registry';
import { parseBenchArgs } from './lib/args';
import { Cleanup, runWithCleanup } from './lib/cleanup';
import { measured, renderComparison, type PhaseRow } from './lib/compare';
import { CALL_DEADLINE_MS, containerConfig, podConfig, removeAllPods, type Workload } from './lib/cri-workload';
import { roundOrder } from './lib/interleave';
import { newCgroupParent } from './lib/isolate';
import { benchMain } from './lib/main';
import { benchEnvironment, describeEnvironment, writeJsonReport } from './lib/report';
import { median, msSince } from './lib/stats';
import { startBenchVmpod } from './lib/vmpod';

const SPEC = {
  description: 'bench/streaming: exec and port-forward through the streaming server for a runc pod, against ExecSync and direct TCP in the same run.',
  defaultRuns: 5,
  ints: {
    execs: { default: 50, min: 1, max: 10_000, help: 'execs of /bin/true per path per round' },
    echoes: { default: 200, min: 1, max: 100_000, help: 'one-byte round trips per round' },
    mib: { default: 64, min: 1, max: 4096, help: 'size of the file fetched per port-forward measurement' },
  },
};

const PORT = 8080;

async function time(into: number[], fn: () => Promise<unknown>): Promise<void> {
  const start = process.hrtime.bigint();
  await fn();
  into.push(msSince(start));
}

type Client = TestDaemon['client'];

async function execUrl(client: Client, ctr: string, cmd: string[], stdin: boolean): Promise<string> {
  return (await client.runtime.Exec({ container_id: ctr, cmd, stdin, stdout: true, stderr: false, tty: false }, CALL_DEADLINE_MS)).url;
}

/** Exec over WebSocket v5; resolves with the status text once the server closes. */
function wsExec(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url.replace(/^http/, 'ws'), ['v5.channel.k8s.io']);
    let status = '';
    ws.on('message', (d: Buffer) => {
      if (d[0] === 3) status += d.subarray(1).toString();
    });
    ws.on('close', () => resolve(status));
    ws.on('error', reject);
  });
}

/** Exec over SPDY v4 as client-go opens it (error, then stdout); resolves with the status once the error stream ends. */
async function spdyExec(url: string): Promise<string> {
  const { session } = await dialSpdy(url, ['v4.channel.k8s.io']);
  try {
    const error = await session.openStream({ streamtype: 'error' });
    const stdout = await session.openStream({ streamtype: 'stdout' });
    stdout.resume();
    const parts: Buffer[] = [];
    error.on('data', (b: Buffer) => parts.push(b));
    await new Promise((resolve, reject) => {
      error.once('end', resolve);
      error.once('error', reject);
    });
    return Buffer.concat(parts).toString();
  } finally {
    session.destroy();
  }
}

/** One-byte round trips inside one `cat` over WebSocket v5. */
async function echoes(url: string, n: number, into: number[]): Promise<void> {
  const ws = new WebSocket(url.replace(/^http/, 'ws'), ['v5.channel.k8s.io']);
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  let waiting: (() => void) | undefined;
  ws.on('message', (d: Buffer) => {
    if (d[0] === 1 && d.length > 1) waiting?.();
  });
  for (let i = 0; i < n; i++) {
    const start = process.hrtime.bigint();
    await new Promise<void>((resolve) => {
      waiting = resolve;
      ws.send(Buffer.from([0, 0x61]));
    });
    into.push(msSince(start));
  }
  ws.send(Buffer.from([255, 0]));
  await new Promise((resolve) => ws.once('close', resolve));
}

const GET = `GET /blob HTTP/1.0\r\n\r\n`;

/** Bytes of the HTTP answer over plain TCP to the pod. */
function directGet(ip: string): Promise<number> {
  return new Promise((resolve, reject) => {
    let n = 0;
    const s = connect(PORT, ip, () => s.write(GET));
    s.on('data', (b: Buffer) => (n += b.length));
    s.on('end', () => resolve(n));
    s.on('error', reject);
  });
}

/** Bytes of the HTTP answer over a WebSocket v4 port-forward (the two-byte port prefix is not counted). */
function wsGet(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url.replace(/^http/, 'ws')}?port=${PORT}`, ['v4.channel.k8s.io']);
    let n = 0;
    let prefixed = false;
    ws.on('open', () => ws.send(Buffer.concat([Buffer.from([0]), Buffer.from(GET)])));
    ws.on('message', (d: Buffer) => {
      if (d[0] !== 0) return;
      if (!prefixed) {
        prefixed = true;
        n += d.length - 3;
      } else n += d.length - 1;
    });
    ws.on('close', () => resolve(n));
    ws.on('error', reject);
  });
}

/** Bytes of the HTTP answer over a SPDY port-forward pair. */
async function spdyGet(url: string): Promise<number> {
  const { session } = await dialSpdy(url, ['portforward.k8s.io']);
  try {
    const error = await session.openStream({ streamtype: 'error', port: String(PORT), requestid: '0' });
    error.resume();
    const data = await session.openStream({ streamtype: 'data', port: String(PORT), requestid: '0' });
    let n = 0;
    data.on('data', (b: Buffer) => (n += b.length));
    data.write(GET);
    await new Promise((resolve, reject) => {
      data.once('end', resolve);
      data.once('error', reject);
    });
    return n;
  } finally {
    session.destroy();
  }
}

function workloadEntries(): TarEntry[] {
  const base = busyboxEntries().map((e) => (e.type === 'link' ? { ...e, mode: 0o755 } : e));
  return [...base, ...['sh', 'sleep', 'true', 'cat', 'httpd', 'dd', 'mkdir'].map((n): TarEntry => ({ name: `bin/${n}`, type: 'symlink', linkname: 'busybox' }))];
}

async function inner(work: string, argv: string[]): Promise<number> {
  const args = parseBenchArgs(argv, SPEC);
  const cleanup = new Cleanup();
  const log = (s: string) => process.stderr.write(`${s}\n`);
  return runWithCleanup(cleanup, async () => {
    const env = benchEnvironment();
    const cgroupParent = newCgroupParent(work);
    const reg = await startRegistry();
    cleanup.add('stop docker-registry', () => reg.stop());
    await new RegistryPusher(reg).pushImage('bench/busybox', 'v1', [{ tar: await makeTar(workloadEntries()), compression: 'gzip' }]);
    const mib = args.ints.mib;
    const w: Workload = {
      image: `${reg.host}/bench/busybox:v1`,
      command: ['/bin/sh', '-c', `mkdir -p /www && dd if=/dev/zero of=/www/blob bs=1048576 count=${mib} 2>/dev/null && exec httpd -f -p ${PORT} -h /www`],
      cgroupParent,
      logDir: join(work, 'pod-logs'),
      bench: 'streaming',
    };
    const d = await startBenchVmpod(cleanup, work, reg.host);
    cleanup.add('remove vmpod pods', () => removeAllPods({ name: 'vmpod', client: d.client, version: '' }));
    const rt = d.client.runtime;
    await d.client.image.PullImage({ image: { image: w.image } }, CALL_DEADLINE_MS);
    const sandboxConfig = podConfig(w, 'stream');
    const { pod_sandbox_id: pod } = await rt.RunPodSandbox({ config: sandboxConfig }, CALL_DEADLINE_MS);
    const ip = (await rt.PodSandboxStatus({ pod_sandbox_id: pod }, CALL_DEADLINE_MS)).status?.network?.ip ?? '';
    const { container_id: ctr } = await rt.CreateContainer({ pod_sandbox_id: pod, config: containerConfig(w, 'httpd'), sandbox_config: sandboxConfig }, CALL_DEADLINE_MS);
    await rt.StartContainer({ container_id: ctr }, CALL_DEADLINE_MS);
    // httpd is up once the file is written; wait for it without timing.
    for (let i = 0; ; i++) {
      const n = await directGet(ip).catch(() => 0);
      if (n > mib << 20) break;
      if (i > 300) throw new Error(`httpd in the pod did not serve ${mib} MiB at ${ip}:${PORT}`);
      await new Promise((r) => setTimeout(r, 200));
    }

    const s = { execSync: [] as number[], execWs: [] as number[], execSpdy: [] as number[], echo: [] as number[], tcp: [] as number[], pfWs: [] as number[], pfSpdy: [] as number[] };
    const bytes = (mib << 20) / 1e6;
    const mbps = (into: number[], get: () => Promise<number>) => async () => {
      const start = process.hrtime.bigint();
      const n = await get();
      if (n < mib << 20) throw new Error(`fetched ${n} bytes, expected more than ${mib} MiB`);
      into.push(bytes / (msSince(start) / 1000));
    };
    const steps: (() => Promise<void>)[] = [
      async () => {
        for (let i = 0; i < args.ints.execs; i++) await time(s.execSync, () => rt.ExecSync({ container_id: ctr, cmd: ['/bin/true'], timeout: 30 }, CALL_DEADLINE_MS));
      },
      async () => {
        for (let i = 0; i < args.ints.execs; i++)
          await time(s.execWs, async () => {
            const st = await wsExec(await execUrl(d.client, ctr, ['/bin/true'], false));
            if (!st.includes('Success')) throw new Error(`websocket exec: ${st}`);
          });
      },
      async () => {
        for (let i = 0; i < args.ints.execs; i++)
          await time(s.execSpdy, async () => {
            const st = await spdyExec(await execUrl(d.client, ctr, ['/bin/true'], false));
            if (!st.includes('Success')) throw new Error(`spdy exec: ${st}`);
          });
      },
      async () => echoes(await execUrl(d.client, ctr, ['/bin/cat'], true), args.ints.echoes, s.echo),
      mbps(s.tcp, () => directGet(ip)),
      async () => mbps(s.pfWs, async () => wsGet((await rt.PortForward({ pod_sandbox_id: pod, port: [] }, CALL_DEADLINE_MS)).url))(),
      async () => mbps(s.pfSpdy, async () => spdyGet((await rt.PortForward({ pod_sandbox_id: pod, port: [] }, CALL_DEADLINE_MS)).url))(),
    ];
    // One unmeasured round warms every path (the arrays are emptied in place: the steps hold them).
    for (const step of steps) await step();
    for (const k of Object.keys(s) as (keyof typeof s)[]) s[k].length = 0;
    for (let r = 0; r < args.runs; r++) {
      for (const i of roundOrder(
        steps.map((_, i) => i),
        r,
      ))
        await steps[i]();
      log(`  round ${r + 1}/${args.runs} done`);
    }

    const execRows: PhaseRow[] = [
      { label: 'exec /bin/true, WebSocket v5 (ms)', outcomes: [measured(s.execWs), measured(s.execSync)] },
      { label: 'exec /bin/true, SPDY v4 (ms)', outcomes: [measured(s.execSpdy), measured(s.execSync)] },
    ];
    // Throughput is MB/s (higher is better), which the ms tables do not format: its own lines.
    const pf = [
      { label: `port-forward GET ${mib} MiB, WebSocket v4`, mbps: median(s.pfWs) },
      { label: `port-forward GET ${mib} MiB, SPDY`, mbps: median(s.pfSpdy) },
    ];
    const tcp = median(s.tcp);
    console.log(`\nbench/streaming  ${describeEnvironment(env)}`);
    console.log(`runc pod ${ip}; rounds ${args.runs} (+1 warm-up); ${args.ints.execs} execs per path per round; ${args.ints.echoes} echoes per round\n`);
    console.log(renderComparison(['streaming', 'ExecSync'], execRows));
    console.log('');
    for (const row of pf) console.log(`${row.label}: ${row.mbps.toFixed(0)} MB/s vs ${tcp.toFixed(0)} MB/s direct TCP to the pod IP (${(row.mbps / tcp).toFixed(2)}x), medians of ${s.tcp.length}`);
    console.log(`one-byte round trip in an exec of cat, WebSocket v5: median ${median(s.echo).toFixed(2)} ms (n=${s.echo.length})`);
    if (args.json) writeJsonReport(args.json, 'streaming', env, { runs: args.runs, mib, samples: s, execRows, portForward: pf, tcp });
    await rt.StopPodSandbox({ pod_sandbox_id: pod }, CALL_DEADLINE_MS);
    await rt.RemovePodSandbox({ pod_sandbox_id: pod }, CALL_DEADLINE_MS);
  });
}

if (require.main === module) void benchMain('dist/bench/streaming.js', SPEC, __filename, inner);
