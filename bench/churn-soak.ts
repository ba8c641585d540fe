// Churn soak (issue 16): --runc runc pods and --vm VM pods, each through
// runp, create, start, exec, stopp and rmp against the real daemon, then the
// daemon's RSS, open fds and threads compared before and after, and a leak
// scan once it stopped (test/fault/leaks.ts). One warm-up cycle per handler
// runs before the first sample, so caches filled once (the guest image, the
// accel probe, the CNI plugins' first run) are not counted as growth.
//
//   flock /tmp/vmpod-heavy.lock node dist/bench/churn-soak.js [--runc 100] [--vm 20] [--json FILE]
//
// Bounds (docs/reliability.md): open fds back to within 2 of where they
// were, RSS growth under 64 MiB; exits 1 beyond either or on any leak.
// Needs ../shared/critest (setup-images.sh), as bench/fault-injection.ts.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CRITEST_DIR, sharedCritestMissing } from '../test/helpers/critest';
import { FaultDaemon } from '../test/fault/daemon';
import { containerConfig, IMAGE, podConfig, type Handler } from '../test/fault/harness';
import { baseline, scanLeaks } from '../test/fault/leaks';
import { parseOrUsage } from './lib/args';
import { Cleanup, runWithCleanup } from './lib/cleanup';
import { benchEnvironment, describeEnvironment, writeJsonReport } from './lib/report';

const SPEC = {
  description: 'bench/churn-soak: runc and VM pod create/remove cycles; daemon RSS, fds and threads before and after; leaks.',
  defaultRuns: 1,
  ints: {
    runc: { default: 100, min: 0, max: 10_000, help: 'runc pod cycles' },
    vm: { default: 20, min: 0, max: 1000, help: 'VM pod cycles' },
  },
};

const FD_SLACK = 2;
const RSS_BOUND_KIB = 64 * 1024;
const CALL_MS = 240_000;

interface Sample {
  rssKiB: number;
  fds: number;
  threads: number;
}

function sample(pid: number): Sample {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
  return { rssKiB: field('VmRSS'), fds: readdirSync(`/proc/${pid}/fd`).length, threads: field('Threads') };
}

async function cycle(d: FaultDaemon, handler: Handler, name: string, logDir: string): Promise<void> {
  const c = d.client.runtime;
  const pc = podConfig(handler, name, logDir);
  const pod = (await c.RunPodSandbox({ config: pc }, CALL_MS)).pod_sandbox_id;
  const ctr = (await c.CreateContainer({ pod_sandbox_id: pod, config: containerConfig(), sandbox_config: pc }, CALL_MS)).container_id;
  await c.StartContainer({ container_id: ctr }, CALL_MS);
  const r = await c.ExecSync({ container_id: ctr, cmd: ['echo', 'alive'], timeout: 60 }, CALL_MS);
  if (r.exit_code !== 0 || r.stdout.toString() !== 'alive\n') throw new Error(`${name}: exec answered ${r.exit_code} "${r.stdout.toString()}"`);
  await c.StopPodSandbox({ pod_sandbox_id: pod }, CALL_MS);
  await c.RemovePodSandbox({ pod_sandbox_id: pod }, CALL_MS);
}

async function main(): Promise<number> {
  const parsed = parseOrUsage('dist/bench/churn-soak.js', SPEC, process.argv.slice(2));
  if ('exit' in parsed) return parsed.exit;
  const { args } = parsed;
  const missing = sharedCritestMissing(['setup-images.sh', 'teardown.sh', 'cni/10-critest.conflist']);
  if (missing) {
    process.stderr.write(`bench/churn-soak cannot run: ${missing}\n`);
    return 2;
  }
  const env = benchEnvironment();
  process.stdout.write(`${describeEnvironment(env)}\n`);
  const cleanup = new Cleanup();
  let report: object = {};
  let bad = false;
  const code = await runWithCleanup(cleanup, async () => {
    const setup = spawnSync(join(CRITEST_DIR, 'setup-images.sh'), { encoding: 'utf8', timeout: 15 * 60_000 });
    if (setup.status !== 0) throw new Error(`setup-images.sh failed: ${setup.stderr.slice(-2000)}`);
    cleanup.add('critest teardown.sh', () => spawnSync(join(CRITEST_DIR, 'teardown.sh'), { timeout: 120_000 }));
    const dir = mkdtempSync(join(tmpdir(), 'vmpod-churn-'));
    const d = new FaultDaemon(dir);
    cleanup.add('daemon and its directory', async () => {
      await d.stop();
      spawnSync('umount', ['-l', join(d.state, 'netns')]);
      rmSync(dir, { recursive: true, force: true });
    });
    await d.start();
    await d.client.image.PullImage({ image: { image: IMAGE } }, CALL_MS);
    const before0 = baseline(d.root, d.state);
    const logDir = join(dir, 'logs');
    const plan: [Handler, number][] = [
      ['runc', args.ints.runc],
      ['vm', args.ints.vm],
    ];
    for (const [h, n] of plan) if (n > 0) await cycle(d, h, `warmup-${h}`, logDir);
    const before = sample(d.pid);
    const t0 = performance.now();
    const timings: Record<string, number> = {};
    for (const [h, n] of plan) {
      const t1 = performance.now();
      for (let i = 0; i < n; i++) await cycle(d, h, `churn-${h}-${i}`, logDir);
      timings[h] = n ? (performance.now() - t1) / n : 0;
    }
    const after = sample(d.pid);
    const pods = (await d.client.runtime.ListPodSandbox({})).items.length;
    const exitCode = await d.stop();
    const leaks = scanLeaks({ dir, root: d.root, state: d.state, before: before0 });
    const growth = { rssKiB: after.rssKiB - before.rssKiB, fds: after.fds - before.fds, threads: after.threads - before.threads };
    bad = growth.fds > FD_SLACK || growth.rssKiB > RSS_BOUND_KIB || leaks.length > 0 || pods > 0 || exitCode !== 0;
    process.stdout.write(
      [
        `cycles: ${args.ints.runc} runc (${Math.round(timings.runc ?? 0)} ms each), ${args.ints.vm} vm (${Math.round(timings.vm ?? 0)} ms each), ${Math.round((performance.now() - t0) / 1000)} s`,
        `before: RSS ${before.rssKiB} KiB, ${before.fds} fds, ${before.threads} threads`,
        `after:  RSS ${after.rssKiB} KiB, ${after.fds} fds, ${after.threads} threads`,
        `growth: RSS ${growth.rssKiB} KiB (bound ${RSS_BOUND_KIB}), fds ${growth.fds} (bound ${FD_SLACK}), threads ${growth.threads}`,
        `pods listed at the end: ${pods}; daemon exit on SIGTERM: ${exitCode}`,
        `left after stopping: ${leaks.length ? leaks.join('; ') : 'nothing'}`,
        '',
      ].join('\n'),
    );
    report = { cycles: { runc: args.ints.runc, vm: args.ints.vm }, msPerCycle: timings, before, after, growth, bounds: { rssKiB: RSS_BOUND_KIB, fds: FD_SLACK }, leaks };
  });
  if (args.json) writeJsonReport(args.json, 'churn-soak', env, report);
  return code || (bad ? 1 : 0);
}

void main().then((code) => process.exit(code));
