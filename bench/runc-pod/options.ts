// bench/runc-pod's command line: every stage's size, the figures by
// default, `--quick` for a smoke run of under a minute (an option given
// explicitly wins over --quick), `--only` to pick stages.

import type { BenchArgs } from '../lib/args';

// memory right after lifecycle: before the list and kubelet stages have had both daemons handle hundreds of pods, whose heap growth would be read as the 10-pod figure.
// calls first: it needs no pods, and both daemons are as fresh as a node's.
export const STAGES = ['calls', 'lifecycle', 'memory', 'lists', 'kubelet', 'throughput'] as const;
export type Stage = (typeof STAGES)[number];

export const SPEC = {
  description:
    'bench/runc-pod: trusted pods over CRI, vmpod vs containerd 1.6 (CRI plugin + runc) in the same run: lifecycle calls, lists with N containers, kubelet steady state (CPU), memory, parallel starts.',
  defaultRuns: 9,
  ints: {
    'calls-rounds': { default: 5, min: 1, max: 100, help: 'calls: rounds of Version and ListPodSandbox per runtime, alternating' },
    'calls-per-round': { default: 20, min: 1, max: 10_000, help: 'calls: each call timed this many times per round, back to back and again 100 ms apart' },
    warmup: { default: 1, min: 0, max: 10, help: 'lifecycle: unmeasured pod lifecycles per runtime before the timed ones (--runs is the timed count)' },
    'list-count': { default: 200, min: 1, max: 1000, help: 'lists: running containers present (in pods of 10)' },
    'list-calls': { default: 20, min: 1, max: 1000, help: 'lists: rounds of ListContainers, ListPodSandbox, ContainerStatus, ListContainerStats, ImageFsInfo' },
    'kubelet-pods': { default: 100, min: 1, max: 500, help: "kubelet: pods of 2 running containers present during kubelet's loop" },
    'kubelet-iterations': { default: 5, min: 1, max: 1000, help: 'kubelet: loop iterations per batch (CPU time is read before and after a batch)' },
    'kubelet-batches': { default: 5, min: 1, max: 100, help: 'kubelet: batches per runtime, alternating; each followed by 2 s idle' },
    'memory-pods': { default: 10, min: 1, max: 200, help: 'memory: pods present' },
    'memory-containers': { default: 5, min: 1, max: 50, help: 'memory: running containers per pod' },
    'memory-samples': { default: 3, min: 1, max: 60, help: 'memory: readings, 1 s apart' },
    'parallel-pods': { default: 20, min: 1, max: 200, help: 'throughput: pods (one container each) started at once' },
    'parallel-rounds': { default: 3, min: 1, max: 50, help: 'throughput: rounds per runtime, alternating' },
  },
  strings: {
    only: { help: `comma-separated stages to run, of ${STAGES.join(',')} (default: all)` },
  },
  bools: {
    quick: { help: 'a smoke run (under a minute): every size scaled down; explicit options still win' },
    'skip-vmpod': { help: 'measure containerd only' },
    'skip-containerd': { help: 'measure vmpod only' },
  },
};

type IntName = keyof typeof SPEC.ints;

const QUICK: Record<IntName | 'runs', number> = {
  runs: 3,
  'calls-rounds': 1,
  'calls-per-round': 5,
  warmup: 1,
  'list-count': 10,
  'list-calls': 5,
  'kubelet-pods': 3,
  'kubelet-iterations': 3,
  'kubelet-batches': 2,
  'memory-pods': 1,
  'memory-containers': 5,
  'memory-samples': 1,
  'parallel-pods': 4,
  'parallel-rounds': 1,
};

export interface RuncPodOptions {
  runs: number;
  ints: Record<IntName, number>;
  stages: Stage[];
}

const given = (argv: readonly string[], name: string) => argv.some((a) => a === `--${name}` || a.startsWith(`--${name}=`));

/** The sizes to use: parsed values, with --quick's for every option not given on the command line. */
export function resolveOptions(args: BenchArgs<IntName, 'only', 'quick' | 'skip-vmpod' | 'skip-containerd'>, argv: readonly string[]): RuncPodOptions {
  const quick = args.bools.quick;
  const ints = { ...args.ints };
  for (const k of Object.keys(ints) as IntName[]) if (quick && !given(argv, k)) ints[k] = QUICK[k];
  // A bare run count (`runc-pod.js 5`) counts as given.
  const runsGiven = given(argv, 'runs') || argv.some((a) => /^\d+$/.test(a));
  const runs = quick && !runsGiven ? QUICK.runs : args.runs;
  const only = args.strings.only;
  let stages: Stage[] = [...STAGES];
  if (only !== undefined) {
    const asked = only
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const bad = asked.filter((s) => !(STAGES as readonly string[]).includes(s));
    if (bad.length || asked.length === 0) throw new Error(`--only: unknown stage(s) ${bad.join(', ') || '(none given)'}; stages are ${STAGES.join(', ')}`);
    stages = STAGES.filter((s) => asked.includes(s));
  }
  return { runs, ints, stages };
}
