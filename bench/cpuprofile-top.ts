// Prints where a .cpuprofile's time went (bench/lib/cpuprofile.ts):
//
//   node dist/bench/cpuprofile-top.js FILE [--top N] [--from RE] [--to RE] [--only RE]
//
// e.g. the list rounds of bench/runc-pod's daemon:
//   VMPOD_DAEMON_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" node dist/bench/runc-pod.js --only lists --skip-containerd
//   node dist/bench/cpuprofile-top.js /tmp/prof/CPU.*.cpuprofile --from startContainer --to 'stopPod|stopContainer'

import { readFileSync } from 'node:fs';
import { summarizeProfile, type CpuProfile } from './lib/cpuprofile';

function main(argv: string[]): number {
  const file = argv.find((a, i) => !a.startsWith('--') && !argv[i - 1]?.startsWith('--'));
  const opt = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  if (!file) {
    process.stderr.write('usage: node dist/bench/cpuprofile-top.js FILE [--top N] [--from RE] [--to RE] [--only RE]\n');
    return 2;
  }
  const re = (name: string) => (opt(name) === undefined ? undefined : new RegExp(opt(name)!));
  const s = summarizeProfile(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, { from: re('from'), to: re('to'), only: re('only') });
  const top = Number(opt('top') ?? 40);
  const rows = (list: Array<[string, number]>) => list.slice(0, top).map(([k, v]) => `${v.toFixed(1).padStart(10)}  ${k}`);
  console.log(`window ${s.windowMs.toFixed(0)} ms, kept ${s.keptMs.toFixed(0)} ms`);
  console.log(['-- self (ms)', ...rows(s.self), '-- inclusive (ms)', ...rows(s.inclusive)].join('\n'));
  return 0;
}

process.exitCode = main(process.argv.slice(2));
