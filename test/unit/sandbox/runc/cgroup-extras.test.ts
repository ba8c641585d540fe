import t from 'tap';
import { parseBlkioRecursive, parseIoStat, parsePressure, v1Swap } from '../../../../src/sandbox/runc/cgroup-extras';

t.test('parseBlkioRecursive sums Read and Write over devices', async (t) => {
  const text = ['8:0 Read 4096', '8:0 Write 8192', '8:0 Sync 0', '8:0 Async 12288', '8:0 Discard 0', '8:0 Total 12288', '253:1 Read 100', '253:1 Write 1', '253:1 Total 101', 'Total 12389', ''].join(
    '\n',
  );
  t.same(parseBlkioRecursive(text), { read: 4196, write: 8193 });
});

t.test('parseBlkioRecursive: a cgroup that did no IO reads only "Total 0" (a measured zero), garbage reads null', async (t) => {
  t.same(parseBlkioRecursive('Total 0\n'), { read: 0, write: 0 });
  t.equal(parseBlkioRecursive(''), null);
  t.equal(parseBlkioRecursive('nonsense here\n'), null);
});

t.test('parseIoStat sums bytes and operations over devices', async (t) => {
  const text = '8:0 rbytes=1000 wbytes=2000 rios=3 wios=4 dbytes=0 dios=0\n259:0 rbytes=1 wbytes=2 rios=1 wios=1 dbytes=5 dios=1\n';
  t.same(parseIoStat(text), { readBytes: 1001, writeBytes: 2002, readOps: 4, writeOps: 5 });
  t.same(parseIoStat(''), { readBytes: 0, writeBytes: 0, readOps: 0, writeOps: 0 }, 'no device line: no IO yet');
});

t.test('parsePressure reads some and full', async (t) => {
  const p = parsePressure('some avg10=1.50 avg60=0.25 avg300=0.00 total=292278\nfull avg10=0.00 avg60=0.10 avg300=0.00 total=282876\n');
  t.same(p, { some: { totalUs: 292278, avg10: 1.5, avg60: 0.25, avg300: 0 }, full: { totalUs: 282876, avg10: 0, avg60: 0.1, avg300: 0 } });
});

t.test('parsePressure: only some (old cpu.pressure), or nothing usable', async (t) => {
  t.same(parsePressure('some avg10=0.00 avg60=0.00 avg300=0.00 total=7\n'), { some: { totalUs: 7, avg10: 0, avg60: 0, avg300: 0 } });
  t.equal(parsePressure(''), null);
  t.equal(parsePressure('some avg10=x total=1\n'), null, 'a some line without its averages');
});

t.test('v1Swap: memsw minus memory, limits only when both are set', async (t) => {
  t.same(v1Swap(1000, 1500, 4096, 8192), { swapUsageBytes: 500, swapLimitBytes: 4096 });
  t.same(v1Swap(1000, 1000, 2 ** 63, 2 ** 63), { swapUsageBytes: 0 }, 'no limit: usage only');
  t.same(v1Swap(1000, null, 4096, null), {}, 'no swap accounting: nothing, not 0');
  t.same(v1Swap(null, 1000, null, null), {});
});
