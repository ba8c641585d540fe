import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CidAllocator, FIRST_GUEST_CID } from '../../../src/hypervisor/vsock-cid';
import { ResourceExhaustedError } from '../../../src/errors';

function tmpFile(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-cid-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'cids.json');
}

t.test('first CID is 3, never 0/1/2, and allocation is lowest-free', async (t) => {
  const a = new CidAllocator(tmpFile(t));
  t.equal(FIRST_GUEST_CID, 3);
  t.equal(a.allocate('a'), 3);
  t.equal(a.allocate('b'), 4);
  t.equal(a.allocate('c'), 5);
  a.release('b');
  t.equal(a.allocate('d'), 4, 'freed CID reused');
});

t.test('allocate is idempotent per owner', async (t) => {
  const a = new CidAllocator(tmpFile(t));
  t.equal(a.allocate('a'), a.allocate('a'));
  t.equal(a.allocated().size, 1);
});

t.test('persisted across instances (daemon restart)', async (t) => {
  const f = tmpFile(t);
  const a = new CidAllocator(f);
  a.allocate('a');
  a.allocate('b');
  a.release('a');
  const b = new CidAllocator(f);
  t.equal(b.lookup('b'), 4);
  t.equal(b.lookup('a'), undefined);
  t.equal(b.allocate('c'), 3);
  t.match(readFileSync(f, 'utf8'), /"3": "c"/);
});

t.test('reserved CIDs in a tampered file are ignored', async (t) => {
  const f = tmpFile(t);
  writeFileSync(f, JSON.stringify({ version: 1, owners: { '2': 'host', '0': 'x', '3': 'a' } }));
  const a = new CidAllocator(f);
  t.same([...a.allocated().keys()], [3]);
});

t.test('exhaustion is ResourceExhaustedError', async (t) => {
  const a = new CidAllocator(tmpFile(t), 4);
  a.allocate('a');
  a.allocate('b');
  t.throws(() => a.allocate('c'), ResourceExhaustedError);
});

t.test('release of an unknown owner is a no-op', async (t) => {
  const a = new CidAllocator(tmpFile(t));
  a.release('ghost');
  t.equal(a.allocated().size, 0);
});
