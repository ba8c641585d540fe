import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CidAllocator, FIRST_GUEST_CID, isCidInUseError, startWithFreeCid } from '../../../src/hypervisor/vsock-cid';
import { ResourceExhaustedError } from '../../../common/errors';

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

// What launchQemu throws when vhost-vsock refuses the CID (QEMU's stderr tail in the message).
const clash = (cid: number): Error =>
  new Error(
    `qemu-start: QEMU for p exited (exit code 1) before opening QMP: qemu-system-x86_64: -device vhost-vsock-pci,guest-cid=${cid}: vhost-vsock: unable to set guest cid: Address already in use`,
  );

t.test('a CID held by a VM outside vmpod is set aside and the next one tried', async (t) => {
  const a = new CidAllocator(tmpFile(t));
  const foreign = new Set([3, 4]); // another hypervisor's VMs
  const tried: number[] = [];
  const clashes: number[] = [];
  const got = await startWithFreeCid(
    a,
    'pod1',
    async (cid) => {
      tried.push(cid);
      if (foreign.has(cid)) throw clash(cid);
      return `vm@${cid}`;
    },
    (cid) => clashes.push(cid),
  );
  t.equal(got, 'vm@5', 'started on the first free CID');
  t.same(tried, [3, 4, 5], 'tried in order');
  t.same(clashes, [3, 4], 'each clash reported');
  t.same([...a.allocated()], [[5, 'pod1']], 'only the CID in use is recorded for the pod');
  t.equal(a.allocate('pod2'), 6, 'the foreign CIDs are not handed out again');
});

t.test('other failures, and the last clash, are thrown as they came', async (t) => {
  const a = new CidAllocator(tmpFile(t));
  await t.rejects(
    startWithFreeCid(a, 'p', async () => {
      throw new Error('qemu-start: no KVM');
    }),
    /no KVM/,
    'a different failure is not retried',
  );
  t.same([...a.allocated()], [[3, 'p']], 'its CID stays with the pod (the caller releases it on undo)');
  let n = 0;
  await t.rejects(
    startWithFreeCid(
      a,
      'q',
      async (cid) => {
        n++;
        throw clash(cid);
      },
      undefined,
      3,
    ),
    /Address already in use/,
    'gives up after the tries',
  );
  t.equal(n, 3, 'three tries');
  t.ok(isCidInUseError(clash(9)), 'the clash is recognised');
  t.notOk(isCidInUseError(new Error('vhost-vsock: unable to open /dev/vhost-vsock')), 'another vhost-vsock error is not a clash');
});
