// bench/9p-model: what 9p's mapped-xattr security model costs against none
// (the pod share's model) for volume work, in one VM.
//
//   node dist/bench/9p-model.js [--runs 7] [--files 300] [--mib 128] [--json FILE]
//
// One guest under TCG (test/helpers/two-model-guest.ts) with a `none` and a
// `mapped-xattr` export, both built by the daemon's virtio9pArgs, bound into
// one container at /none and /mapped. Per run and model, interleaved (the
// model measured first alternates): create --files small files, stat them
// (`ls -l`), read them (`cat`), remove them, and write --mib MiB
// sequentially with fsync. Each step is timed inside the guest from
// /proc/uptime (10 ms resolution: the steps take hundreds of ms), so the
// agent round trip is not in the numbers. Prints the median per step and
// model and the ratio mapped-xattr / none.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findGuestImage } from '../src/host/guest-image';
import { missingForTwoModelGuest, startTwoModelGuest } from '../test/helpers/two-model-guest';
import { Cleanup, runWithCleanup } from './lib/cleanup';
import { benchEnvironment, describeEnvironment, writeJsonReport } from './lib/report';
import { median } from './lib/stats';

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(name);
  const v = i >= 0 ? Number(process.argv[i + 1]) : dflt;
  if (!Number.isInteger(v) || v < 1) throw new Error(`${name} must be a positive integer`);
  return v;
};
const jsonArg = (): string | undefined => {
  const i = process.argv.indexOf('--json');
  return i >= 0 ? process.argv[i + 1] : undefined;
};

const MODELS = ['none', 'mapped-xattr'] as const;
type Model = (typeof MODELS)[number];
const STEPS = ['create', 'stat', 'read', 'remove', 'seqwrite'] as const;
type Step = (typeof STEPS)[number];

/** The guest script for one model's run: prints `<step> <ms>` per step. */
function script(dir: string, files: number, mib: number): string {
  return [
    'set -e',
    'now() { read u _ < /proc/uptime; echo ${u%.*}${u#*.}0; }', // uptime in ms (10 ms steps)
    `d=${dir}/bench; rm -rf $d; mkdir $d`,
    `t=$(now); for i in $(seq ${files}); do echo data > $d/f$i; done; echo create $(( $(now) - t ))`,
    `t=$(now); ls -l $d > /dev/null; echo stat $(( $(now) - t ))`,
    `t=$(now); cat $d/* > /dev/null; echo read $(( $(now) - t ))`,
    `t=$(now); rm $d/f*; echo remove $(( $(now) - t ))`,
    `t=$(now); dd if=/dev/zero of=$d/big bs=1M count=${mib} conv=fsync 2>/dev/null; echo seqwrite $(( $(now) - t ))`,
    'rm -rf $d',
  ].join('\n');
}

async function main(cleanup: Cleanup): Promise<void> {
  const runs = arg('--runs', 7);
  const files = arg('--files', 300);
  const mib = arg('--mib', 128);
  const img = findGuestImage(process.env.VMPOD_GUEST_DIR);
  const missing = 'missing' in img ? img.missing : missingForTwoModelGuest();
  if (missing !== undefined || 'missing' in img) {
    console.log(`9p-model: not available: ${missing}`);
    return;
  }
  const work = mkdtempSync(join(tmpdir(), 'vmpod-9p-bench-'));
  cleanup.add('remove the work dir', () => rmSync(work, { recursive: true, force: true }));
  const guest = await startTwoModelGuest(img, work);
  cleanup.add('stop the guest', () => guest.close());

  const samples: Record<Model, Record<Step, number[]>> = {
    none: { create: [], stat: [], read: [], remove: [], seqwrite: [] },
    'mapped-xattr': { create: [], stat: [], read: [], remove: [], seqwrite: [] },
  };
  for (let r = 0; r < runs && !cleanup.started; r++) {
    const order = r % 2 === 0 ? MODELS : [...MODELS].reverse();
    for (const m of order) {
      const res = await guest.sh(script(m === 'none' ? '/none' : '/mapped', files, mib), { timeoutMs: 600_000 });
      if (res.code !== 0) throw new Error(`run ${r} on ${m} failed (${res.code}): ${res.out}`);
      for (const line of res.out.split('\n')) {
        const [step, ms] = line.split(' ');
        if ((STEPS as readonly string[]).includes(step)) samples[m][step as Step].push(Number(ms));
      }
    }
  }
  const env = benchEnvironment();
  console.log(`9p-model: ${runs} runs, ${files} files, ${mib} MiB; ${describeEnvironment(env)}`);
  console.log('step       none ms   mapped-xattr ms   ratio');
  const result: Record<string, { none: number; mapped: number; ratio: number }> = {};
  for (const s of STEPS) {
    const none = median(samples.none[s]);
    const mapped = median(samples['mapped-xattr'][s]);
    result[s] = { none, mapped, ratio: mapped / none };
    console.log(`${s.padEnd(10)} ${String(none).padStart(7)}   ${String(mapped).padStart(15)}   ${(mapped / none).toFixed(2)}`);
  }
  const json = jsonArg();
  if (json) writeJsonReport(json, '9p-model', env, { runs, files, mib, medianMs: result, samples });
}

if (require.main === module) {
  const cleanup = new Cleanup();
  void runWithCleanup(cleanup, () => main(cleanup)).then((code) => {
    process.exitCode = code;
  });
}
