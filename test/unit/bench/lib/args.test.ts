import t from 'tap';
import { BenchArgsError, benchUsage, parseBenchArgs } from '../../../../bench/lib/args';

const spec = {
  description: 'test bench',
  defaultRuns: 5,
  ints: { 'list-count': { default: 20, min: 1, max: 1000, help: 'containers' } },
  strings: { guest: { help: 'guest dir' } },
  bools: { 'skip-vmpod': { help: 'skip' } },
};

const ok: Array<{ desc: string; argv: string[]; runs: number; json?: string; listCount: number; guest?: string; skip: boolean }> = [
  { desc: 'defaults', argv: [], runs: 5, listCount: 20, skip: false },
  { desc: '--runs N', argv: ['--runs', '3'], runs: 3, listCount: 20, skip: false },
  { desc: '--runs=N', argv: ['--runs=7'], runs: 7, listCount: 20, skip: false },
  { desc: 'a bare number is the run count', argv: ['9'], runs: 9, listCount: 20, skip: false },
  { desc: '--json FILE', argv: ['--json', '/tmp/x.json'], runs: 5, json: '/tmp/x.json', listCount: 20, skip: false },
  { desc: 'bench-specific int, string and flag', argv: ['--list-count', '200', '--guest', '/g', '--skip-vmpod'], runs: 5, listCount: 200, guest: '/g', skip: true },
];
for (const c of ok) {
  t.test(`parses ${c.desc}`, async (t) => {
    const a = parseBenchArgs(c.argv, spec);
    t.equal(a.runs, c.runs);
    t.equal(a.json, c.json);
    t.equal(a.ints['list-count'], c.listCount);
    t.equal(a.strings.guest, c.guest);
    t.equal(a.bools['skip-vmpod'], c.skip);
    t.equal(a.help, false);
  });
}

const bad: Array<{ desc: string; argv: string[]; msg: RegExp }> = [
  { desc: 'an unknown option', argv: ['--rusn', '3'], msg: /rusn/ },
  { desc: 'a non-numeric run count', argv: ['--runs', 'five'], msg: /--runs: "five" is not a whole number/ },
  { desc: 'zero runs', argv: ['--runs', '0'], msg: /--runs: 0 is outside/ },
  { desc: 'a negative number', argv: ['--list-count=-3'], msg: /not a whole number/ },
  { desc: 'an int above its maximum', argv: ['--list-count', '5000'], msg: /--list-count: 5000 is outside \[1, 1000\]/ },
  { desc: 'the run count twice', argv: ['4', '--runs', '3'], msg: /once/ },
  { desc: 'two bare arguments', argv: ['4', '5'], msg: /unexpected arguments/ },
  { desc: 'an empty --json', argv: ['--json='], msg: /--json/ },
];
for (const c of bad) {
  t.test(`rejects ${c.desc}`, async (t) => {
    const err = t.throws(() => parseBenchArgs(c.argv, spec)) as unknown;
    t.ok(err instanceof BenchArgsError, 'is a BenchArgsError');
    t.match((err as Error).message, c.msg);
  });
}

t.test('--help is reported, and the usage lists every option with its default', async (t) => {
  t.equal(parseBenchArgs(['--help'], spec).help, true);
  const u = benchUsage('dist/bench/x.js', spec);
  for (const s of ['test bench', '--runs N', '(default 5)', '--json FILE', '--list-count N', '(default 20)', '--guest S', '--skip-vmpod', '--help']) t.match(u, s);
});
