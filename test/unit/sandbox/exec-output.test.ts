// ExecSync output must fit one gRPC message (16 MiB) whatever the command
// writes: 16 MiB on each stream used to make a 32 MiB response, which gRPC
// refused, so kubelet got an error instead of the output.

import t from 'tap';
import { EXEC_RESPONSE_BUDGET, ExecStreamCollector, fitExecOutput, truncationMarker } from '../../../src/sandbox/exec-output';

const MiB = 1024 * 1024;
const col = (bytes: number, dropped = 0, fill = 'a') => ({ data: Buffer.alloc(bytes, fill), dropped });

t.test('the pair is cut to the budget, markers included, and says what was dropped', async (t) => {
  const cases: Array<{ desc: string; out: ReturnType<typeof col>; err: ReturnType<typeof col>; budget: number; cutOut: boolean; cutErr: boolean }> = [
    { desc: 'both small: untouched', out: col(100), err: col(50), budget: 1000, cutOut: false, cutErr: false },
    { desc: 'exactly the budget: untouched', out: col(600), err: col(400), budget: 1000, cutOut: false, cutErr: false },
    { desc: 'stdout floods, stderr small: stderr kept whole', out: col(5000), err: col(100), budget: 1000, cutOut: true, cutErr: false },
    { desc: 'stderr floods, stdout small: stdout kept whole', out: col(100), err: col(5000), budget: 1000, cutOut: false, cutErr: true },
    { desc: 'both flood: half each', out: col(5000), err: col(5000), budget: 1000, cutOut: true, cutErr: true },
    { desc: 'cut at collection, fits now: still marked', out: col(100, 7), err: col(0), budget: 1000, cutOut: true, cutErr: false },
    { desc: '16 MiB each, as the collectors keep: cut to the real budget', out: col(16 * MiB, 1), err: col(16 * MiB, 1), budget: EXEC_RESPONSE_BUDGET, cutOut: true, cutErr: true },
  ];
  for (const c of cases) {
    const r = fitExecOutput(c.out, c.err, c.budget);
    t.ok(r.stdout.length + r.stderr.length <= c.budget, `${c.desc}: ${r.stdout.length} + ${r.stderr.length} bytes within ${c.budget}`);
    for (const [name, got, from, cut] of [
      ['stdout', r.stdout, c.out, c.cutOut],
      ['stderr', r.stderr, c.err, c.cutErr],
    ] as const) {
      const marked = /\n\[vmpod: output truncated, \d+ bytes dropped\]\n$/.test(got.subarray(-80).toString());
      t.equal(marked, cut, `${c.desc}: ${name} ${cut ? 'ends with the marker' : 'has no marker'}`);
      if (!cut) t.same(got, from.data, `${c.desc}: ${name} whole`);
      if (cut) {
        const dropped = Number(/(\d+) bytes dropped/.exec(got.subarray(-80).toString())?.[1]);
        const kept = got.length - Buffer.byteLength(truncationMarker(dropped));
        t.equal(kept + dropped, from.data.length + from.dropped, `${c.desc}: ${name} kept + dropped = all it wrote`);
        t.ok(got.subarray(0, kept).equals(from.data.subarray(0, kept)), `${c.desc}: ${name} keeps its beginning`);
      }
    }
  }
  const both = fitExecOutput(col(5000), col(5000), 1000);
  t.equal(both.stdout.length, 500, 'both flooding: stdout gets half');
  t.equal(both.stderr.length, 500, 'and stderr the other half');
});

t.test('a collector keeps the first cap bytes and counts the rest', async (t) => {
  const c = new ExecStreamCollector(10);
  c.push(Buffer.from('0123456'));
  c.push(Buffer.from('789abc'));
  c.push(Buffer.from('def'));
  c.dropped += 4; // lost by the producer (the guest agent's full buffer)
  t.same(c.collected(), { data: Buffer.from('0123456789'), dropped: 16 - 10 + 4 });
});
