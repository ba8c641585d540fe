// CRI fuzzing, the long run: random but well-typed requests for every
// RuntimeService and ImageService method against the real daemon of the
// fault rig, per handler, for --seconds each, as test/fault/cri-fuzz.test.ts
// does for about a minute in CI (test/fault/fuzz/runner.ts says what counts
// as a problem: the daemon stops answering Version/ListPodSandbox within a
// few seconds, an answer is UNKNOWN or INTERNAL, a call that cannot wait
// meets its deadline, or something is left once every pod is removed).
//
//   flock /tmp/vmpod-heavy.lock node dist/bench/cri-fuzz.js [--seconds 300] [--seed N] [--handlers runc,vm] [--vm-pods 6] [--workers 3] [--json FILE]
//
// Needs ../shared/critest (setup-images.sh: the critest netns, its CNI
// config and the registry on its 127.0.0.1:5000). Prints, per handler, the
// calls per method with the gRPC codes they got, what the unusual codes
// said, and every problem; exits 1 if there was any. The seed (default: from
// the clock) is printed; --seed replays it.

import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { CRITEST_DIR, sharedCritestMissing } from '../test/helpers/critest';
import { FaultRig } from '../test/fault/harness';
import type { Handler } from '../test/fault/fuzz/generate';
import { CriFuzzer, renderReport, type FuzzReport } from '../test/fault/fuzz/runner';
import { BenchArgsError, parseOrUsage } from './lib/args';
import { Cleanup, runWithCleanup } from './lib/cleanup';
import { benchEnvironment, describeEnvironment, writeJsonReport } from './lib/report';

const SPEC = {
  description:
    'bench/cri-fuzz: random well-typed CRI calls against the real daemon per handler; counts calls and gRPC codes, reports a daemon that stops answering, UNKNOWN/INTERNAL answers and leaks.',
  defaultRuns: 1,
  ints: {
    seconds: { default: 300, min: 1, max: 86_400, help: 'seconds of calls per handler' },
    'vm-pods': { default: 6, min: 0, max: 100, help: 'valid VM RunPodSandbox calls per VM run (each boots a VM)' },
    workers: { default: 3, min: 1, max: 32, help: 'concurrent callers' },
  },
  strings: {
    handlers: { default: 'runc,vm', help: 'comma-separated handlers' },
    seed: { help: 'seed of the request generator (default: from the clock)' },
  },
};

function handlersOf(raw: string | undefined): Handler[] {
  const items = (raw ?? '').split(',').filter(Boolean);
  for (const i of items) if (i !== 'runc' && i !== 'vm') throw new BenchArgsError(`--handlers: "${i}" is not one of runc, vm`);
  return items as Handler[];
}

async function main(): Promise<number> {
  const parsed = parseOrUsage('dist/bench/cri-fuzz.js', SPEC, process.argv.slice(2));
  if ('exit' in parsed) return parsed.exit;
  const { args } = parsed;
  let handlers: Handler[];
  try {
    handlers = handlersOf(args.strings.handlers);
    if (args.strings.seed !== undefined && !/^\d+$/.test(args.strings.seed)) throw new BenchArgsError(`--seed: "${args.strings.seed}" is not a whole number`);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    return 2;
  }
  const seed = args.strings.seed !== undefined ? Number(args.strings.seed) : Date.now() % 2 ** 31;
  const missing = sharedCritestMissing(['setup-images.sh', 'teardown.sh', 'cni/10-critest.conflist']);
  if (missing) {
    process.stderr.write(`bench/cri-fuzz cannot run: ${missing}\n`);
    return 2;
  }
  const env = benchEnvironment();
  process.stdout.write(`${describeEnvironment(env)}\nseed ${seed} (replay with --seed ${seed})\n`);
  const cleanup = new Cleanup();
  const reports: FuzzReport[] = [];
  const code = await runWithCleanup(cleanup, async () => {
    const setup = spawnSync(join(CRITEST_DIR, 'setup-images.sh'), { encoding: 'utf8', timeout: 15 * 60_000 });
    if (setup.status !== 0) throw new Error(`setup-images.sh failed: ${setup.stderr.slice(-2000)}`);
    cleanup.add('critest teardown.sh', () => spawnSync(join(CRITEST_DIR, 'teardown.sh'), { timeout: 120_000 }));
    for (const handler of handlers) {
      const rig = new FaultRig(handler);
      cleanup.add(`${handler} rig`, async () => {
        await rig.daemon.stop();
        rig.dispose();
      });
      const fuzzer = new CriFuzzer(rig, {
        seed,
        seconds: args.ints.seconds,
        handler,
        workers: args.ints.workers,
        maxVmPods: args.ints['vm-pods'],
        progress: (l) => process.stdout.write(`${handler}: ${l}\n`),
      });
      const report = await fuzzer.run();
      reports.push(report);
      process.stdout.write(`${renderReport(report)}\n`);
    }
  });
  if (args.json) writeJsonReport(args.json, 'cri-fuzz', env, { seed, seconds: args.ints.seconds, reports });
  return code || (reports.some((r) => r.problems.length) ? 1 : 0);
}

void main().then((code) => process.exit(code));
