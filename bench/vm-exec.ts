// bench/vm-exec: what starting a program costs the agent in a VM guest under
// TCG, request by request (issue 17): StartContainer of --containers
// containers (`crun run`; the first is the agent's first program), then
// --execs rounds of ExecProcess + WaitProcess of `/bin/true` in a container
// (`crun exec`) and DebugExec + WaitProcess of busybox `true` (a program the
// agent starts itself). Wall time and QEMU's CPU time (the guest's own work
// under TCG) of each. One guest build per run: A/B two builds by running it
// for each in turn, interleaved, as docs/performance.md shows.
//
//   node dist/bench/vm-exec.js [--containers 5] [--execs 12]
//   VMPOD_GUEST_DIR=<guest build> node dist/bench/vm-exec.js ...
//
// The guest boots as test/e2e/agent-guest boots it: QEMU with the agent on
// a virtio-serial port and a busybox rootfs shared over 9p, driven by the
// host's agent client (no daemon, no network).

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseOrUsage } from './lib/args';
import { bootBenchGuest, type Sample } from './lib/bench-guest';
import { Cleanup, runWithCleanup } from './lib/cleanup';
import { benchEnvironment } from './lib/report';
import { median } from './lib/stats';

function report(name: string, samples: Sample[]): void {
  const wall = samples.map((s) => s.wallMs);
  const cpu = samples.map((s) => s.cpuMs);
  console.log(`${name}: wall median ${median(wall)} ms [${wall.join(' ')}], QEMU CPU median ${median(cpu)} ms [${cpu.join(' ')}]`);
}

async function main(cleanup: Cleanup, containers: number, execs: number): Promise<void> {
  const { image: img, work, client, timed } = await bootBenchGuest(cleanup, { name: 'vm-exec', applets: ['sh', 'true', 'sleep'], runForMs: 600_000, callTimeoutMs: 30_000 });
  execFileSync('runc', ['spec', '--bundle', work]);
  const spec = JSON.parse(readFileSync(join(work, 'config.json'), 'utf8')) as { process: { terminal: boolean; args: string[] } };
  spec.process.terminal = false;
  spec.process.args = ['/bin/sleep', '600'];
  const exited0 = (what: string, w: { exited: boolean; exit_code: number }): void => {
    if (!w.exited || w.exit_code !== 0) throw new Error(`${what} did not exit 0: ${JSON.stringify(w)}`);
  };

  const starts: Sample[] = [];
  for (let i = 0; i < containers; i++) {
    const id = `c${i}`;
    // Every container on the one read-only rootfs: crun bind-mounts it, nothing writes it.
    await client.call('CreateContainer', { container_id: id, oci_spec_json: Buffer.from(JSON.stringify(spec)), rootfs_path: 'rootfs' });
    starts.push(await timed(async () => void (await client.call('StartContainer', { container_id: id }, { timeoutMs: 60_000 }))));
  }
  const proc = Buffer.from(JSON.stringify({ args: ['/bin/true'], env: ['PATH=/bin'], cwd: '/', user: { uid: 0, gid: 0 } }));
  const execSamples: Sample[] = [];
  const debugSamples: Sample[] = [];
  for (let i = 0; i < execs; i++) {
    execSamples.push(
      await timed(async () => {
        await client.call('ExecProcess', { container_id: 'c0', exec_id: `e${i}`, process_json: proc }, { timeoutMs: 60_000 });
        exited0(`exec e${i}`, await client.waitProcess({ container_id: 'c0', exec_id: `e${i}`, wait_ms: 30_000 }));
      }),
    );
    debugSamples.push(
      await timed(async () => {
        await client.call('DebugExec', { exec_id: `d${i}`, args: ['true'], env: [], terminal: false, rows: 0, cols: 0, stdin: false });
        // container_id '' is the guest itself: debug processes.
        exited0(`debug process d${i}`, await client.waitProcess({ container_id: '', exec_id: `d${i}`, wait_ms: 30_000 }));
      }),
    );
  }
  console.log(`guest ${img.hash.slice(0, 12)}, TCG, serial agent channel, load average ${benchEnvironment().loadavg1.toFixed(2)}`);
  report(`StartContainer × ${containers} (crun run; the first is the agent's first program)`, starts);
  report(`ExecProcess + WaitProcess /bin/true × ${execs} (crun exec)`, execSamples);
  report(`DebugExec + WaitProcess busybox true × ${execs}`, debugSamples);
}

const SPEC = {
  description: "what starting a program costs the agent in a TCG guest: StartContainer, crun exec, a debug process (QEMU's CPU = the guest's work)",
  defaultRuns: 1,
  ints: {
    containers: { default: 5, min: 1, help: 'containers started (crun run), one after the other' },
    execs: { default: 12, min: 1, help: 'rounds of one crun exec and one debug process' },
  },
};

async function cli(): Promise<void> {
  const parsed = parseOrUsage('dist/bench/vm-exec.js', SPEC, process.argv.slice(2));
  if ('exit' in parsed) {
    process.exitCode = parsed.exit;
    return;
  }
  const { args } = parsed;
  const cleanup = new Cleanup();
  const { containers, execs } = args.ints;
  process.exitCode = await runWithCleanup(cleanup, () => main(cleanup, containers, execs));
}

if (require.main === module) void cli();
