import t from 'tap';
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { join } from 'node:path';
import {
  bucketOf,
  BUCKETS,
  densityEstimate,
  templateRamShareKiB,
  meanBreakdown,
  parseMeminfo,
  parseSmaps,
  smapsBreakdown,
  totalPssKiB,
  type GuestFiles,
  type SmapsMapping,
} from '../../../../bench/lib/smaps';

// A real /proc/<pid>/smaps of one idle VM pod's QEMU (512 MiB guest, TCG
// with tb-size=64, free page reporting, ten pods running), captured by
// `bench/vm-pod --smaps-out` (gzipped: 500 mappings); the guest image lived in G.
const SAMPLE = gunzipSync(readFileSync(join(__dirname, '..', '..', '..', '..', '..', 'test', 'fixtures', 'qemu-smaps', 'idle-vm-pod.smaps.gz'))).toString('utf8');
const G = '/var/cache/vmpod/guest/01e06c55ab352ebaf3da478ea0721989ee2eba809b3e9aa17c0841644e96b78f';
const FILES: GuestFiles = { kernels: [`${G}/vmlinux`, `${G}/bzImage`], initrd: `${G}/initramfs.cpio.gz`, rootfs: `${G}/rootfs.img` };

t.test('every mapping of the sample is parsed, with its fields', async (t) => {
  const maps = parseSmaps(SAMPLE);
  const headers = SAMPLE.split('\n').filter((l) => /^[0-9a-f]+-[0-9a-f]+ /.test(l)).length;
  t.equal(maps.length, headers, 'one entry per mapping header');
  t.ok(
    maps.every((m) => m.end > m.start && Number((m.end - m.start) / 1024n) === m.sizeKiB),
    'Size is the address range',
  );
  t.ok(
    maps.every((m) => m.pssKiB <= m.rssKiB && m.sharedKiB + m.privateKiB === m.rssKiB),
    'PSS never above RSS; shared + private is RSS',
  );
  t.ok(
    maps.some((m) => m.path === '[heap]'),
    'pseudo paths kept',
  );
});

t.test('the sample splits into the buckets the bench prints', async (t) => {
  const maps = parseSmaps(SAMPLE);
  const b = smapsBreakdown(maps, FILES);
  t.equal(
    totalPssKiB(b),
    maps.reduce((a, m) => a + m.pssKiB, 0),
    'nothing lost or counted twice',
  );
  // Multi-threaded TCG splits the buffer into regions with a guard page after each.
  t.ok(b.tcg.sizeKiB <= TB_SIZE_KIB && b.tcg.sizeKiB > TB_SIZE_KIB - 1024, 'the TCG buffer is the tb-size mappings');
  t.equal(b.tcg.rssKiB, b.tcg.sizeKiB, 'an idle guest has filled it');
  t.equal(b.guestRam.sizeKiB, 1024 * 1024, 'guest RAM: 512 MiB boot RAM + 512 MiB virtio-mem region');
  t.ok(b.kernel.rssKiB > 0 && b.kernel.privateKiB === 0, 'the kernel image is mapped, shared with the other QEMUs');
  t.ok(b.rootfs.rssKiB > 0 && b.rootfs.privateKiB === 0, 'the DAX rootfs is shared');
  t.ok(b.initrd.sizeKiB > 0, 'the initramfs is mapped');
  t.ok(b.qemu.pssKiB > 0, 'QEMU itself');
  t.equal(totalPssKiB(b, ['tcg']), totalPssKiB(b) - b.tcg.pssKiB, 'a bucket can be left out');
});

const m = (over: Partial<SmapsMapping>): SmapsMapping => ({ start: 0n, end: 4096n, perms: 'rw-p', path: '', sizeKiB: 4, rssKiB: 0, pssKiB: 0, sharedKiB: 0, privateKiB: 0, anonKiB: 0, ...over });
const cases: Array<[string, SmapsMapping, string]> = [
  ['anonymous rwx: TCG buffer', m({ perms: 'rwxp', sizeKiB: 65536 }), 'tcg'],
  ['a big anonymous rw mapping: guest RAM', m({ sizeKiB: 512 * 1024 }), 'guestRam'],
  ['a malloc arena (64 MiB): QEMU', m({ sizeKiB: 64 * 1024 }), 'qemu'],
  ['a big read-only anonymous reservation: QEMU', m({ perms: '---p', sizeKiB: 512 * 1024 }), 'qemu'],
  ['the kernel', m({ path: `${G}/vmlinux`, perms: 'rw-p' }), 'kernel'],
  ['a bzImage counts as the kernel too', m({ path: `${G}/bzImage` }), 'kernel'],
  ['the initramfs', m({ path: `${G}/initramfs.cpio.gz` }), 'initrd'],
  ['the rootfs', m({ path: `${G}/rootfs.img`, perms: 'r--s' }), 'rootfs'],
  ['a library', m({ path: '/usr/lib/x86_64-linux-gnu/libc.so.6', perms: 'r-xp' }), 'qemu'],
  ['the heap', m({ path: '[heap]', sizeKiB: 200 * 1024 }), 'qemu'],
  ["a template's memfd, mapped private", m({ path: '/memfd:vmpod-template (deleted)', sizeKiB: 512 * 1024 }), 'template'],
];
for (const [desc, map, want] of cases) t.test(`bucketOf: ${desc}`, async (t) => t.equal(bucketOf(map, FILES), want));

t.test("templateRamShareKiB: a VM's own copies plus an equal share of the whole memfd", async (t) => {
  t.equal(templateRamShareKiB({ ownCopiesKiB: 10_000, memfdKiB: 100_000, vms: 10 }), 20_000);
  t.equal(templateRamShareKiB({ ownCopiesKiB: 10_000, memfdKiB: 100_000, vms: 0 }), 10_000, 'no VMs: nothing to split');
});

t.test('meanBreakdown averages bucket by bucket', async (t) => {
  const one = smapsBreakdown([m({ perms: 'rwxp', pssKiB: 100, rssKiB: 100 })], FILES);
  const two = smapsBreakdown([m({ perms: 'rwxp', pssKiB: 300, rssKiB: 300 })], FILES);
  const mean = meanBreakdown([one, two]);
  t.equal(mean.tcg.pssKiB, 200);
  t.equal(mean.qemu.pssKiB, 0);
  t.same(Object.keys(meanBreakdown([])), [...BUCKETS], 'no pods: every bucket, all zero');
});

t.test('parseMeminfo', async (t) => {
  t.same(parseMeminfo('MemTotal:       24684512 kB\nMemFree:        100 kB\nMemAvailable:   23000000 kB\n'), { totalKiB: 24684512, availableKiB: 23000000 });
  t.throws(() => parseMeminfo('MemTotal: 1 kB\n'), /MemAvailable/);
});

t.test('densityEstimate: pods that fit under 90 % of RAM, what is used now counted', async (t) => {
  // 100 GiB, 10 used: 90 - 10 = 80 GiB of budget.
  const GiB = 1024 * 1024;
  t.equal(densityEstimate({ totalKiB: 100 * GiB, availableKiB: 90 * GiB, perPodKiB: GiB }), 80);
  t.equal(densityEstimate({ totalKiB: 100 * GiB, availableKiB: 90 * GiB, perPodKiB: 3 * GiB }), 26, 'rounded down');
  t.equal(densityEstimate({ totalKiB: 100 * GiB, availableKiB: 5 * GiB, perPodKiB: GiB }), 0, 'already above 90 %');
  t.equal(densityEstimate({ totalKiB: 100 * GiB, availableKiB: 90 * GiB, perPodKiB: 0 }), 0, 'a pod that costs nothing is not infinitely many');
  t.equal(densityEstimate({ totalKiB: 100 * GiB, availableKiB: 100 * GiB, perPodKiB: GiB, fraction: 0.5 }), 50);
});

const TB_SIZE_KIB = 64 * 1024;
