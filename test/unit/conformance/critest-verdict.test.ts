import t from 'tap';
import { CRITEST_HANDLERS, critestConfigFor, critestHandlers, judge, parseKnownFailures, parseSpecs, readKnownFailures } from '../../helpers/critest';

const specs = parseSpecs(
  [
    'passed\t[BeforeSuite]',
    'passed\t[It] [k8s.io] A works',
    'failed\t[It] [k8s.io] B digest',
    'failed\t[It] [k8s.io] C new bug',
    'passed\t[It] [k8s.io] D fixed since',
    'skipped\t[It] [k8s.io] E benchmark',
    'timedout\t[It] [k8s.io] F hangs',
  ].join('\n'),
);

t.test('specs.txt: [It] specs only, names without the prefix', async (t) => {
  t.same([...specs.keys()], ['[k8s.io] A works', '[k8s.io] B digest', '[k8s.io] C new bug', '[k8s.io] D fixed since', '[k8s.io] E benchmark', '[k8s.io] F hangs']);
  t.equal(parseSpecs('passed\t[It] x\nfailed\t[It] x\npassed\t[It] x').get('x'), 'failed', 'a spec listed twice fails if either run failed');
});

t.test('verdict per handler', async (t) => {
  const known = parseKnownFailures(
    ['# comment', 'runc,vm|[k8s.io] B digest|upstream digest', 'vm|[k8s.io] D fixed since|was broken', 'vm|[k8s.io] Z renamed|gone', 'runc|[k8s.io] F hangs|no'].join('\n'),
  );
  const cases = [
    { desc: 'runc', handler: 'runc', unexpected: ['[k8s.io] C new bug'], known: ['[k8s.io] B digest', '[k8s.io] F hangs'], stale: [], missing: [] },
    {
      desc: 'vm: a listed spec that passes is stale, a listed spec critest never ran is missing, a timeout is a failure',
      handler: 'vm',
      unexpected: ['[k8s.io] C new bug', '[k8s.io] F hangs'],
      known: ['[k8s.io] B digest'],
      stale: ['[k8s.io] D fixed since'],
      missing: ['[k8s.io] Z renamed'],
    },
  ];
  for (const c of cases) {
    const v = judge(specs, known, c.handler);
    t.same(v.unexpected, c.unexpected, `${c.desc}: unexpected failures`);
    t.same(
      v.known.map((k) => k.spec),
      c.known,
      `${c.desc}: known failures`,
    );
    t.same(
      v.stale.map((k) => k.spec),
      c.stale,
      `${c.desc}: stale entries`,
    );
    t.same(
      v.missing.map((k) => k.spec),
      c.missing,
      `${c.desc}: entries for specs that did not run`,
    );
    t.equal(v.passed, 2, `${c.desc}: passed count`);
  }
});

t.test('the committed known-failures list parses, and every entry has a reason and known handlers', async (t) => {
  const list = readKnownFailures();
  t.ok(list.length > 0);
  for (const k of list) {
    t.ok(k.reason.length > 20, `${k.spec}: says why`);
    t.same(
      k.handlers.filter((h) => !CRITEST_HANDLERS.includes(h)),
      [],
      `${k.spec}: handlers are ${CRITEST_HANDLERS.join(', ')}`,
    );
  }
  t.throws(() => parseKnownFailures('runc|spec without reason'), /line 1/, 'a malformed line names its number');
});

t.test('the conformance stage runs runc and vm unless VMPOD_CRITEST_HANDLERS names others; an unknown name is refused', async (t) => {
  t.same(critestHandlers(undefined), ['runc', 'vm', 'vm-template'], 'three by default: pods on pooled template VMs must pass what cold ones pass');
  t.same(critestHandlers('vm-pool'), ['vm-pool']);
  t.same(critestHandlers('runc, vm,vm-pool'), ['runc', 'vm', 'vm-pool']);
  t.throws(() => critestHandlers('vm,kata'), /VMPOD_CRITEST_HANDLERS: want some of runc, vm, vm-pool, vm-template, got "vm,kata"/);
});

t.test('only the daemons for the vm-pool and vm-template runs have a pool (a pool boots a VM as the daemon starts)', async (t) => {
  for (const h of ['runc', 'vm']) t.notMatch(critestConfigFor(h), /pool_size|template/, `${h}: no pool, no template`);
  t.match(critestConfigFor('vm-pool'), /\[runtime\.handlers\.vm-pool\]\ntype = "microvm"\npool_size = 1$/);
  t.notMatch(critestConfigFor('vm-pool'), /template/, 'vm-pool: VMs booted, no template');
  t.match(critestConfigFor('vm-template'), /\[runtime\.handlers\.vm-template\]\ntype = "microvm"\npool_size = 1\ntemplate = true/);
});
