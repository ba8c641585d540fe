import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_QEMU_UID_BASE, DEFAULT_QEMU_UID_COUNT, lowestFreeUid, QemuUidAllocator } from '../../../src/hypervisor/qemu-uid';
import { InvalidArgumentError, ResourceExhaustedError } from '../../../common/errors';

function tmpFile(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-uid-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'qemu-uids.json');
}

t.test('the default range is outside the uid ranges systemd documents', async (t) => {
  const end = DEFAULT_QEMU_UID_BASE + DEFAULT_QEMU_UID_COUNT;
  t.ok(DEFAULT_QEMU_UID_BASE > 1_879_048_191, 'above the container range 524288-1879048191');
  t.ok(end <= 2_147_352_576, 'below the foreign range');
});

t.test('lowestFreeUid: lowest of the range not in use, undefined when all are', async (t) => {
  t.equal(lowestFreeUid(new Set(), 5000, 3), 5000);
  t.equal(lowestFreeUid(new Set([5000, 5002]), 5000, 3), 5001);
  t.equal(lowestFreeUid(new Set([4999, 5000, 5001, 5002, 5003]), 5000, 3), undefined);
});

t.test('one uid per pod, lowest free, idempotent, reused after release', async (t) => {
  const a = new QemuUidAllocator(tmpFile(t));
  t.equal(a.allocate('p1'), DEFAULT_QEMU_UID_BASE);
  t.equal(a.allocate('p2'), DEFAULT_QEMU_UID_BASE + 1);
  t.equal(a.allocate('p1'), DEFAULT_QEMU_UID_BASE, 'the same pod keeps its uid');
  a.release('p1');
  a.release('p1');
  t.equal(a.lookup('p1'), undefined, 'released (twice is a no-op)');
  t.equal(a.allocate('p3'), DEFAULT_QEMU_UID_BASE, 'the freed uid goes to the next pod');
});

t.test('a configured range; exhausted is ResourceExhaustedError; a bad range is refused', async (t) => {
  const a = new QemuUidAllocator(tmpFile(t));
  t.equal(a.allocate('a', 70_000, 2), 70_000);
  t.equal(a.allocate('b', 70_000, 2), 70_001);
  t.throws(() => a.allocate('c', 70_000, 2), ResourceExhaustedError);
  t.throws(() => a.allocate('c', 0, 10), InvalidArgumentError, 'root and system uids are never handed out');
  t.throws(() => a.allocate('c', 4_294_967_290, 10), InvalidArgumentError, 'nor (uid_t)-1');
  t.throws(() => a.allocate('', 70_000, 5), InvalidArgumentError);
});

t.test('persisted across instances (daemon restart); entries outside the range stay taken', async (t) => {
  const file = tmpFile(t);
  const a = new QemuUidAllocator(file);
  a.allocate('p1', 80_000, 10);
  a.allocate('p2', 80_000, 10);
  t.same(JSON.parse(readFileSync(file, 'utf8')), { version: 1, owners: { '80000': 'p1', '80001': 'p2' } });
  const b = new QemuUidAllocator(file);
  t.equal(b.lookup('p2'), 80_001);
  t.equal(b.allocate('p3', 80_000, 10), 80_002, 'a running VM keeps its uid');
  t.equal(b.allocate('p4', 90_000, 10), 90_000, 'another range');
  t.equal(b.lookup('p1'), 80_000, 'still recorded when the range moved');
});

t.test('garbage entries are dropped; a missing file is an empty allocator', async (t) => {
  const file = tmpFile(t);
  writeFileSync(file, JSON.stringify({ version: 1, owners: { x: 'a', '-3': 'b', '0': 'root', '70000': 7 } }));
  t.same(new QemuUidAllocator(file).allocated(), new Map());
  t.same(new QemuUidAllocator(join(file, '..', 'none.json')).allocated(), new Map());
});

t.test('two allocators over one file (two VM handlers of a daemon) never hand out one uid twice', async (t) => {
  const file = tmpFile(t);
  const a = new QemuUidAllocator(file);
  const b = new QemuUidAllocator(file);
  t.equal(a.allocate('p1', 70_000, 5), 70_000);
  t.equal(b.allocate('p2', 70_000, 5), 70_001, 'b sees what a allocated');
  a.release('p2');
  t.equal(b.lookup('p2'), undefined, 'and what a released');
});
