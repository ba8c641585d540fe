import t from 'tap';
import { parseBenchArgs } from '../../../../bench/lib/args';
import { resolveOptions, SPEC, STAGES } from '../../../../bench/runc-pod/options';

const resolve = (argv: string[]) => resolveOptions(parseBenchArgs(argv, SPEC), argv);

t.test('defaults are the issue figures and every stage', async (t) => {
  const o = resolve([]);
  t.equal(o.ints['list-count'], 200);
  t.equal(o.ints['kubelet-pods'], 100);
  t.equal(o.ints['memory-pods'], 10);
  t.equal(o.ints['memory-containers'], 5);
  t.equal(o.ints['parallel-pods'], 20);
  t.same(o.stages, [...STAGES]);
});

t.test('--quick scales down what was not given; given options win', async (t) => {
  const o = resolve(['--quick', '--list-count', '50', '--runs', '4']);
  t.equal(o.ints['list-count'], 50);
  t.equal(o.runs, 4);
  t.ok(o.ints['kubelet-pods'] < 100);
  t.ok(o.ints['parallel-pods'] < 20);
  t.equal(resolve(['--quick', '--kubelet-pods=7']).ints['kubelet-pods'], 7);
  t.equal(resolve(['--quick', '6']).runs, 6, 'a bare run count counts as given');
});

t.test('--only picks stages in their fixed order and refuses unknown ones', async (t) => {
  t.same(resolve(['--only', 'memory,lifecycle']).stages, ['lifecycle', 'memory']);
  t.throws(() => resolve(['--only', 'lists,bogus']), /bogus/);
  t.throws(() => resolve(['--only', ',']), /stage/);
});
