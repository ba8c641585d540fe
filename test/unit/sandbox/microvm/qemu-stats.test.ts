import t from 'tap';
import { parseProcessCost, readProcessCost } from '../../../../src/sandbox/microvm/qemu-stats';

// Field 3 on: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime ...
const stat = (comm: string) => `4242 (${comm}) S 1 4242 4242 0 -1 4194560 1500 0 7 0 250 50 0 0 20 0 3 0 100 1000000 2000`;

t.test('QEMU cost from /proc', async (t) => {
  const cases: [string, string, string, ReturnType<typeof parseProcessCost>][] = [
    ['plain comm', stat('qemu-system-x86'), 'Name:\tqemu\nVmRSS:\t  204800 kB\n', { cpuUserNs: 2.5e9, cpuSystemNs: 0.5e9, rssBytes: 204800 * 1024, majorFaults: 7, minorFaults: 1500 }],
    ['comm with spaces and parens', stat('a) b (c'), 'VmRSS:\t1 kB\n', { cpuUserNs: 2.5e9, cpuSystemNs: 0.5e9, rssBytes: 1024, majorFaults: 7, minorFaults: 1500 }],
    ['no VmRSS (zombie)', stat('q'), 'Name:\tq\n', { cpuUserNs: 2.5e9, cpuSystemNs: 0.5e9, rssBytes: 0, majorFaults: 7, minorFaults: 1500 }],
    ['garbage', 'nonsense', '', undefined],
  ];
  for (const [desc, s, status, want] of cases) t.same(parseProcessCost(s, status), want, desc);
});

t.test('reads a live process (this one)', async (t) => {
  const c = readProcessCost(process.pid);
  t.ok(c && c.rssBytes > 0, 'own RSS is positive');
  t.equal(readProcessCost(2 ** 22 + 7), undefined, 'no such process');
});
