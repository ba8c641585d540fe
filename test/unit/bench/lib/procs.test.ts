import t from 'tap';
import { classify, cpuMsBetween, cpuMsByRole, parseSmapsRollup, parseStat, type CpuSnapshot, type ProcInfo, type RuntimeProcs } from '../../../../bench/lib/procs';

// A real line from /proc/<pid>/stat (containerd-shim), fields 14-17 = 7 3 2 1, starttime 123456.
const SHIM = '42 (containerd-shim) S 1 42 42 0 -1 1077936384 1 0 0 0 7 3 2 1 20 0 10 0 123456 734003200 2000 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0';

t.test('parseStat reads ppid, comm, start time and all four CPU fields', async (t) => {
  t.same(parseStat(42, SHIM), { pid: 42, ppid: 1, comm: 'containerd-shim', startTime: 123456, cpuTicks: 13, childTicks: 3 });
});

t.test('a comm with spaces and parentheses does not shift the fields', async (t) => {
  const s = parseStat(7, SHIM.replace('(containerd-shim)', '(a) b (c)'));
  t.equal(s.comm, 'a) b (c');
  t.equal(s.ppid, 1);
  t.equal(s.cpuTicks, 13);
});

t.test('a malformed stat line is an error, not zeros', async (t) => {
  t.throws(() => parseStat(1, 'garbage'));
  t.throws(() => parseStat(1, '1 (x) S notanumber'));
});

t.test('parseSmapsRollup takes Rss and Pss in kB', async (t) => {
  const text = [
    '55d0c0000000-7ffd00000000 ---p 00000000 00:00 0 [rollup]',
    'Rss:               29184 kB',
    'Pss:                4790 kB',
    'Pss_Anon:           1200 kB',
    'Shared_Clean:      24000 kB',
  ].join('\n');
  t.same(parseSmapsRollup(text), { rssKiB: 29184, pssKiB: 4790 });
  t.throws(() => parseSmapsRollup('Rss: 1 kB'), /Pss/);
});

const OURS = 'pid:[1]';
const POD = 'pid:[2]';
const proc = (pid: number, ppid: number, comm: string, pidNs = OURS): ProcInfo => ({ pid, ppid, comm, startTime: pid, cpuTicks: 0, childTicks: 0, pidNs });
const VMPOD: RuntimeProcs = { name: 'vmpod', daemonPid: 10, helperComms: ['conmon'], infraComms: ['vmpod-infra'] };
const CTD: RuntimeProcs = { name: 'containerd', daemonPid: 20, helperComms: ['containerd-shim'], infraComms: ['pause'] };

t.test('classify: daemons, re-parented helpers and their trees, workloads apart, strangers absent', async (t) => {
  const table = new Map(
    [
      proc(1, 0, 'tini'),
      proc(2, 1, 'node'), // the bench
      proc(3, 2, 'registry'),
      proc(10, 2, 'node'), // vmpod
      proc(11, 10, 'runc'),
      proc(12, 1, 'conmon'),
      proc(13, 12, 'vmpod-infra', POD),
      proc(14, 1, 'conmon'),
      proc(15, 14, 'sleep', POD),
      proc(20, 2, 'containerd'),
      proc(21, 1, 'containerd-shim'),
      proc(22, 21, 'pause', POD),
      proc(23, 21, 'sleep', POD),
      proc(24, 21, 'runc'),
    ].map((p) => [p.pid, p]),
  );
  const got = classify(table, [VMPOD, CTD], OURS);
  t.same(Object.fromEntries([...got].map(([pid, o]) => [pid, `${o.runtime}/${o.role}`])), {
    10: 'vmpod/daemon',
    11: 'vmpod/helper',
    12: 'vmpod/monitor',
    13: 'vmpod/infra',
    14: 'vmpod/monitor',
    15: 'vmpod/workload',
    20: 'containerd/daemon',
    21: 'containerd/monitor',
    22: 'containerd/infra',
    23: 'containerd/workload',
    24: 'containerd/helper',
  });
});

t.test('cpuMsBetween: growth of survivors, all of newcomers, nothing for a process the first read missed; by role with reaped children apart', async (t) => {
  const before: CpuSnapshot = {
    atTicks: 1000,
    ticks: new Map([
      ['10:5', { startTime: 5, cpuTicks: 100, childTicks: 40, role: 'daemon' }],
      ['12:6', { startTime: 6, cpuTicks: 50, childTicks: 0, role: 'monitor' }],
    ]),
  };
  const after: CpuSnapshot = {
    atTicks: 1100,
    ticks: new Map([
      ['10:5', { startTime: 5, cpuTicks: 130, childTicks: 60, role: 'daemon' }], // +30: 10 own, 20 children
      ['12:6', { startTime: 6, cpuTicks: 52, childTicks: 0, role: 'monitor' }], // +2
      ['30:1050', { startTime: 1050, cpuTicks: 8, childTicks: 0, role: 'monitor' }], // started in between: +8
      ['31:7', { startTime: 7, cpuTicks: 999, childTicks: 0, role: 'infra' }], // existed before but not in the first read: 0
    ]),
  };
  t.equal(cpuMsBetween(before, after, 100), 400);
  t.same(cpuMsByRole(before, after, 100), { daemon: 100, 'daemon children': 200, monitor: 100 });
});
