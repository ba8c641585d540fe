import t from 'tap';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuListCount, meminfoKib, onlineCpuMem } from '../../../agent/src/cpu-mem';

t.test('cpuListCount', async (t) => {
  t.equal(cpuListCount('0\n'), 1);
  t.equal(cpuListCount('0-3\n'), 4);
  t.equal(cpuListCount('0-1,3,5-6\n'), 5);
  t.equal(cpuListCount('\n'), 0);
  t.throws(() => cpuListCount('zero'), /not a CPU list/);
});

t.test('meminfoKib', async (t) => {
  t.same(meminfoKib('MemTotal:         496020 kB\nMemFree:          400000 kB\nMemAvailable:     450000 kB\n'), { totalKib: 496020, availableKib: 450000 });
  t.same(meminfoKib('Nothing: 1 kB\n'), { totalKib: 0, availableKib: 0 });
});

t.test('onlineCpuMem onlines the offline CPUs only and reports', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'cpu-mem-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const cpu = join(root, 'cpu');
  for (const n of ['cpu0', 'cpu1', 'cpu2']) mkdirSync(join(cpu, n), { recursive: true });
  mkdirSync(join(cpu, 'cpufreq'));
  // cpu0 has no online file (it cannot go offline), cpu1 is online, cpu2 was hot-plugged offline.
  writeFileSync(join(cpu, 'cpu1', 'online'), '1\n');
  writeFileSync(join(cpu, 'cpu2', 'online'), '0\n');
  // A fake sysfs does not update the list by itself: it says what the kernel would after the write.
  writeFileSync(join(cpu, 'online'), '0-2\n');
  const meminfo = join(root, 'meminfo');
  writeFileSync(meminfo, 'MemTotal:        1000 kB\nMemAvailable:     600 kB\n');
  const s = await onlineCpuMem(cpu, meminfo);
  t.equal(readFileSync(join(cpu, 'cpu2', 'online'), 'utf8'), '1', 'the offline CPU was written 1');
  t.equal(readFileSync(join(cpu, 'cpu1', 'online'), 'utf8'), '1\n', 'an online CPU is left alone');
  t.same(s, { onlineCpus: 3, memTotalKib: 1000, memAvailableKib: 600, errors: [] });
});
