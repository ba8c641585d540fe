import t from 'tap';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchNetwork, bridgeConflist, writeConflist } from '../../../../bench/lib/cni';

const subnets: Array<{ desc: string; index: number; want: string }> = [
  { desc: 'first /24 of the benchmarking range', index: 0, want: '198.18.0.0/24' },
  { desc: 'second /24', index: 1, want: '198.18.1.0/24' },
  { desc: 'crosses into 198.19', index: 256, want: '198.19.0.0/24' },
  { desc: 'last /24 of 198.18.0.0/15', index: 511, want: '198.19.255.0/24' },
];
for (const c of subnets) t.test(`benchNetwork: ${c.desc}`, async (t) => t.equal(benchNetwork('n', 'br0', c.index).subnet, c.want));

t.test('benchNetwork refuses indexes outside 198.18.0.0/15 and over-long bridge names', async (t) => {
  t.throws(() => benchNetwork('n', 'br0', 512), { message: /0\.\.511/ });
  t.throws(() => benchNetwork('n', 'br0', -1), { message: /0\.\.511/ });
  t.throws(() => benchNetwork('n', 'a-bridge-name-too-long', 0), { message: /IFNAMSIZ/ });
});

t.test('the conflist is a bridge with host-local on the subnet, no masquerading', async (t) => {
  const n = benchNetwork('bench', 'vbench0', 3);
  const c = bridgeConflist(n) as { cniVersion: string; name: string; plugins: Array<Record<string, unknown>> };
  t.equal(c.name, 'bench');
  t.equal(c.plugins.length, 1);
  t.match(c.plugins[0], { type: 'bridge', bridge: 'vbench0', ipMasq: false, ipam: { type: 'host-local', ranges: [[{ subnet: '198.18.3.0/24' }]] } });
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-bench-cni-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeConflist(dir, n);
  t.same(JSON.parse(readFileSync(join(dir, '10-bench.conflist'), 'utf8')), c, 'written as the lexically first conflist of its dir');
});
