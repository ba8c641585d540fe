import t from 'tap';
import { parseProcStat, parseSmapsRollup, readVmHostStats, toVmHostStats } from '../../../src/hypervisor/host-stats';

// Real text from this kernel (6.18): a QEMU 7.2 under TCG (paused with -S, 128 MiB guest) and cat(1).
const QEMU_STAT =
  '9238 (qemu-system-x86) S 9235 8880 9285 0 -1 138412416 4478 0 15 0 6 7 0 0 20 0 4 0 786290 1507471360 9079 18446744073709551615 94702461337600 94702467198037 140727991664960 0 0 0 268444224 4100 16451 0 0 0 17 1 0 0 0 0 0 94702470310136 94702475514288 94703186030592 140727991671113 140727991671309 140727991671309 140727991672796 0';
const QEMU_ROLLUP = `5621a250d000-7ffdc9f42000 ---p 00000000 00:00 0                          [rollup]
Rss:               36436 kB
Pss:               34672 kB
Pss_Dirty:         14632 kB
Pss_Anon:          14632 kB
Pss_File:          20040 kB
Pss_Shmem:             0 kB
Shared_Clean:       2072 kB
Shared_Dirty:          0 kB
Private_Clean:     19732 kB
Private_Dirty:     14632 kB
Referenced:        36436 kB
Anonymous:         14632 kB
KSM:                   0 kB
LazyFree:              0 kB
AnonHugePages:      4096 kB
ShmemPmdMapped:        0 kB
FilePmdMapped:         0 kB
Shared_Hugetlb:        0 kB
Private_Hugetlb:       0 kB
Swap:                  0 kB
SwapPss:               0 kB
Locked:                0 kB
`;
const CAT_STAT =
  '27922 (cat) R 27920 27920 9285 0 -1 4194304 100 0 0 0 0 0 0 0 20 0 1 0 671567 3133440 426 18446744073709551615 94533449895936 94533449915817 140728703791888 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 94533449931824 94533449933440 94534308581376 140728703793694 140728703793714 140728703793714 140728703795179 0';

const stats: Array<{ desc: string; line: string; expect: ReturnType<typeof parseProcStat> }> = [
  {
    desc: 'qemu: utime 6, stime 7 ticks; 4478 minor, 15 major faults; 4 threads',
    line: QEMU_STAT,
    expect: { cpuUserNs: 60_000_000, cpuSystemNs: 70_000_000, minorFaults: 4478, majorFaults: 15, threads: 4 },
  },
  { desc: 'cat: no CPU time yet', line: CAT_STAT, expect: { cpuUserNs: 0, cpuSystemNs: 0, minorFaults: 100, majorFaults: 0, threads: 1 } },
  {
    desc: 'comm with spaces and parens',
    line: '42 (qemu (x) y) S 1 42 42 0 -1 4194304 97 0 5 0 1 2 0 0 20 0 3 0 197351 3133440 411',
    expect: { cpuUserNs: 10_000_000, cpuSystemNs: 20_000_000, minorFaults: 97, majorFaults: 5, threads: 3 },
  },
  { desc: 'truncated line', line: '42 (qemu) S 1', expect: undefined },
  { desc: 'no comm at all', line: '42 qemu S 1 42 42 0 -1 4194304 97 0 5 0 1 2', expect: undefined },
  { desc: 'non-numeric time', line: '42 (qemu) S 1 42 42 0 -1 4194304 97 0 5 0 x 2 0 0', expect: undefined },
];
for (const c of stats) {
  t.test(`parseProcStat: ${c.desc}`, async (t) => {
    t.same(parseProcStat(c.line), c.expect);
  });
}

t.test('parseSmapsRollup reads kB fields as bytes and skips the header', async (t) => {
  const m = parseSmapsRollup(QEMU_ROLLUP);
  t.equal(m.Rss, 36436 * 1024);
  t.equal(m.Pss, 34672 * 1024);
  t.equal(m.Anonymous, 14632 * 1024);
  t.equal(Object.keys(m).length, 22, 'every kB field, not the [rollup] header');
});

t.test('toVmHostStats: everything PodSandboxStats and the bench need, from one stat and one smaps_rollup', async (t) => {
  t.same(toVmHostStats(QEMU_STAT, QEMU_ROLLUP), {
    cpuNs: 130_000_000,
    cpuUserNs: 60_000_000,
    cpuSystemNs: 70_000_000,
    minorFaults: 4478,
    majorFaults: 15,
    threads: 4,
    rssBytes: 36436 * 1024,
    pssBytes: 34672 * 1024,
    anonBytes: 14632 * 1024,
  });
  t.equal(toVmHostStats('garbage', QEMU_ROLLUP), undefined, 'a malformed stat line gives nothing rather than zeros');
  t.match(toVmHostStats(QEMU_STAT, ''), { rssBytes: 0, pssBytes: 0, anonBytes: 0, cpuNs: 130_000_000 }, 'an empty rollup gives zero memory');
});

t.test('readVmHostStats of this process is plausible; of a free PID undefined', async (t) => {
  const s = readVmHostStats(process.pid);
  t.ok(s && s.rssBytes > 0 && s.pssBytes > 0 && s.pssBytes <= s.rssBytes && s.minorFaults > 0 && s.cpuNs === s.cpuUserNs + s.cpuSystemNs, JSON.stringify(s));
  t.equal(readVmHostStats(2 ** 22 + 4321), undefined);
});
