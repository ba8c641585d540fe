// Fault injection, the full set: the real daemon SIGKILLed at --kills evenly
// spaced offsets into each of runp, create, start, stopp and rmp, for runc
// pods and VM pods, restarted on the same root after each kill and checked
// as test/fault/harness.ts says (the ready pod survives and answers exec; the
// interrupted object is complete, absent, or NotReady and removable; nothing
// is left once everything is removed). The survivor pod has the handler
// under test. CI runs a reduced set (test/fault/fault-injection.test.ts).
//
//   flock /tmp/vmpod-heavy.lock node dist/bench/fault-injection.js [--kills 20] [--handlers runc,vm] [--ops runp,create,start,stopp,rmp] [--json FILE]
//
// Needs ../shared/critest (setup-images.sh: the critest netns, its CNI
// config and the registry on its 127.0.0.1:5000). Prints, per handler and
// operation, the measured duration, the kills, and every problem found;
// exits 1 if there was any. With VMPOD_FAULT_LOGS=<dir>, the logs of the
// killed daemon and its successor are kept there for every trial that found
// something. Numbers: docs/reliability.md.

import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { CRITEST_DIR, sharedCritestMissing } from '../test/helpers/critest';
import { FaultRig, offsets, OPERATIONS, type Handler, type Operation } from '../test/fault/harness';
import { BenchArgsError, parseOrUsage } from './lib/args';
import { Cleanup, runWithCleanup } from './lib/cleanup';
import { benchEnvironment, describeEnvironment, writeJsonReport } from './lib/report';

const SPEC = {
  description: 'bench/fault-injection: SIGKILL the daemon at evenly spaced offsets into each pod operation, restart, count pods lost and resources leaked.',
  defaultRuns: 1,
  ints: { kills: { default: 20, min: 1, max: 500, help: 'kills per operation and handler' } },
  strings: {
    handlers: { default: 'runc,vm', help: 'comma-separated handlers' },
    ops: { default: OPERATIONS.join(','), help: 'comma-separated operations' },
  },
};

interface OpResult {
  handler: Handler;
  op: Operation;
  durationMs: number;
  kills: number;
  problems: string[];
}

function listOf<T extends string>(raw: string | undefined, allowed: readonly T[], what: string): T[] {
  const items = (raw ?? '').split(',').filter(Boolean);
  for (const i of items) if (!allowed.includes(i as T)) throw new BenchArgsError(`--${what}: "${i}" is not one of ${allowed.join(', ')}`);
  return items as T[];
}

async function main(): Promise<number> {
  const parsed = parseOrUsage('dist/bench/fault-injection.js', SPEC, process.argv.slice(2));
  if ('exit' in parsed) return parsed.exit;
  const { args } = parsed;
  const handlers = listOf<Handler>(args.strings.handlers, ['runc', 'vm'], 'handlers');
  const ops = listOf<Operation>(args.strings.ops, OPERATIONS, 'ops');
  const missing = sharedCritestMissing(['setup-images.sh', 'teardown.sh', 'cni/10-critest.conflist']);
  if (missing) {
    process.stderr.write(`bench/fault-injection cannot run: ${missing}\n`);
    return 2;
  }
  const env = benchEnvironment();
  process.stdout.write(`${describeEnvironment(env)}\n`);
  const cleanup = new Cleanup();
  const results: OpResult[] = [];
  const leaks: Record<string, string[]> = {};
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
      await rig.setup(handler);
      for (const op of ops) {
        const durationMs = await rig.measure(op);
        const problems: string[] = [];
        const at = offsets(durationMs, args.ints.kills);
        for (const ms of at) problems.push(...(await rig.trial(op, ms)));
        results.push({ handler, op, durationMs, kills: at.length, problems });
        process.stdout.write(`${handler.padEnd(5)} ${op.padEnd(7)} ${String(Math.round(durationMs)).padStart(6)} ms  ${at.length} kills  ${problems.length} problems\n`);
        for (const p of problems) process.stdout.write(`    ${p}\n`);
      }
      leaks[handler] = await rig.finish();
      process.stdout.write(`${handler}: ${rig.daemon.starts} daemon starts; left after removing everything: ${leaks[handler].length ? leaks[handler].join('; ') : 'nothing'}\n`);
    }
  });
  if (args.json) writeJsonReport(args.json, 'fault-injection', env, { kills: args.ints.kills, results, leaks });
  const bad = results.some((r) => r.problems.length) || Object.values(leaks).some((l) => l.length);
  return code || (bad ? 1 : 0);
}

void main().then((code) => process.exit(code));
