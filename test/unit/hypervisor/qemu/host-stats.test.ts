import t from 'tap';
import { parseSmapsRollup, parseStatCpuNs, readVmHostStats } from '../../../../src/hypervisor/qemu/host-stats';

const stats: Array<{ desc: string; line: string; expect: number | undefined }> = [
  { desc: 'plain comm', line: '42 (qemu) S 1 42 42 0 -1 4194304 97 0 0 0 150 50 0 0 20 0 3 0 197351 3133440 411', expect: 2e9 },
  { desc: 'comm with spaces and parens', line: '42 (qemu (x) y) S 1 42 42 0 -1 4194304 97 0 0 0 1 2 0 0 20 0 3 0 197351 3133440 411', expect: 3e7 },
  { desc: 'truncated line', line: '42 (qemu) S 1', expect: undefined },
];
for (const c of stats) {
  t.test(`parseStatCpuNs: ${c.desc}`, async (t) => {
    t.equal(parseStatCpuNs(c.line), c.expect);
  });
}

t.test('parseSmapsRollup reads kB fields as bytes and skips the header', async (t) => {
  const m = parseSmapsRollup('560b-7ffc ---p 00000000 00:00 0   [rollup]\nRss:                1756 kB\nPss:                 212 kB\nAnonymous:           112 kB\n');
  t.same(m, { Rss: 1756 * 1024, Pss: 212 * 1024, Anonymous: 112 * 1024 });
});

t.test('readVmHostStats of this process is plausible; of a free PID undefined', async (t) => {
  const s = readVmHostStats(process.pid);
  t.ok(s && s.rssBytes > 0 && s.pssBytes > 0 && s.pssBytes <= s.rssBytes, JSON.stringify(s));
  t.equal(readVmHostStats(2 ** 22 + 4321), undefined);
});
