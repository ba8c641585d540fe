// The checkpoint archive's layout and metadata, and the checks made before a
// dump: pure parts of CheckpointContainer, without runc or CRIU.

import t from 'tap';
import { InvalidArgumentError, NotFoundError } from '../../../../common/errors';
import { checkpointOptions } from '../../../../src/pods/checkpoint';
import { ARCHIVE_ENTRIES, metadataFromSpec, missingEntries, parseMetadata } from '../../../../src/sandbox/runc/checkpoint-archive';
import { checkpointRefusal, criuErrors } from '../../../../src/sandbox/runc/checkpoint';

const spec = { annotations: { 'io.kubernetes.cri.container-name': 'web', 'io.kubernetes.cri.sandbox-id': 'pod1' } };

t.test('metadata round-trips through config.dump', async (t) => {
  const m = metadataFromSpec('c1', spec, new Date('2026-12-05T17:00:00Z'), '4.2.1');
  t.same(m, { vmpodCheckpointVersion: 1, id: 'c1', name: 'web', podSandboxId: 'pod1', runtime: 'runc', checkpointedTime: '2026-12-05T17:00:00.000Z', criuVersion: '4.2.1' });
  t.same(parseMetadata(JSON.stringify(m), '/a.tar'), m);
  const withImage = metadataFromSpec('c1', spec, new Date(0), '4.2.1', { ref: 'r/busybox:v1', id: 'sha256:a' });
  t.same(withImage.image, { ref: 'r/busybox:v1', id: 'sha256:a' }, 'the image the restore lies over is recorded');
  t.same(parseMetadata(JSON.stringify(withImage), '/a.tar'), withImage);
});

t.test('an archive that is not ours is refused naming it', async (t) => {
  t.throws(() => parseMetadata('not json', '/a.tar'), InvalidArgumentError);
  t.throws(() => parseMetadata('null', '/a.tar'), /a\.tar/);
  const good = metadataFromSpec('c1', spec, new Date(0), '4.2.1');
  t.throws(() => parseMetadata(JSON.stringify({ ...good, vmpodCheckpointVersion: 2 }), '/a.tar'), /version 2/);
  t.throws(() => parseMetadata(JSON.stringify({ ...good, runtime: 'vm' }), '/a.tar'), /runtime vm/);
  t.throws(() => parseMetadata(JSON.stringify({ ...good, id: 7 }), '/a.tar'), /"id"/);
  t.throws(() => parseMetadata(JSON.stringify({ ...good, image: { ref: 'r' } }), '/a.tar'), /"image" without string ref and id/);
  t.throws(() => parseMetadata(JSON.stringify({ ...good, image: null }), '/a.tar'), /"image"/);
});

t.test('missingEntries names what a restore would lack', async (t) => {
  const full = ['./', './checkpoint/', './checkpoint/inventory.img', './checkpoint/descriptors.json', './spec.dump', './config.dump', './rootfs-diff.tar', './dump.log'];
  t.same(missingEntries(full), []);
  t.same(missingEntries(full.filter((n) => n !== './rootfs-diff.tar')), [ARCHIVE_ENTRIES.rootfsDiff]);
  t.same(missingEntries([]).length, 5);
});

t.test('checkpointOptions checks the location against the files it names', async (t) => {
  const dirs = new Set(['/var/lib/kubelet/checkpoints']);
  const files = new Set(['/etc/hostname']);
  const stat = (p: string) => (dirs.has(p) ? { isDirectory: () => true } : files.has(p) ? { isDirectory: () => false } : undefined);
  t.same(checkpointOptions('/var/lib/kubelet/checkpoints/c.tar', 30, stat), { location: '/var/lib/kubelet/checkpoints/c.tar', timeoutS: 30 });
  t.throws(() => checkpointOptions('', 0, stat), /^location: is required/);
  t.throws(() => checkpointOptions('c.tar', 0, stat), InvalidArgumentError);
  t.throws(() => checkpointOptions('/nope/c.tar', 0, stat), NotFoundError);
  t.throws(() => checkpointOptions('/etc/hostname/c.tar', 0, stat), /not a directory/);
  t.throws(() => checkpointOptions('/var/lib/kubelet/checkpoints', 0, stat), /is a directory/, 'the directory itself is not an archive path');
  t.throws(() => checkpointOptions('/var/lib/kubelet/checkpoints/c.tar', -1, stat), /^timeout:/);
});

t.test('checkpointRefusal: what CRIU cannot dump here is refused before it runs', async (t) => {
  t.equal(checkpointRefusal('c1', { root: { path: '/r' } }), null);
  t.match(checkpointRefusal('c1', { root: { path: '/r' }, process: { terminal: true } }), /tty/);
  t.match(checkpointRefusal('c1', { root: { path: '/r' }, linux: { namespaces: [{ type: 'pid' }, { type: 'user' }] } }), /user namespace/);
  t.match(checkpointRefusal('c1', {}), /no root path/);
});

t.test("criuErrors keeps CRIU's error lines, not its noise", async (t) => {
  const log = [
    '(00.1) Warn  (criu/kerndat.c:1799): Hardware breakpoints',
    "(00.2) Error (criu/util.c:1534): rlimit: Can't setup RLIMIT_NOFILE for self: Operation not permitted",
    "(00.3) Error (criu/files-reg.c:1790): Can't lookup mount=26 for fd=1",
    '(00.4) Error (criu/cr-dump.c:1975): Dumping FAILED.',
  ].join('\n');
  t.equal(criuErrors(log), "Error (criu/files-reg.c:1790): Can't lookup mount=26 for fd=1; Error (criu/cr-dump.c:1975): Dumping FAILED.");
  t.equal(criuErrors(''), '');
});
