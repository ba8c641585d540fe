// Image volume leases (src/image/image-store.ts VolumeLeaseRecords) and the
// view's mount options (src/image/volume-view.ts): a lease written reads
// back the same with the store's schema, a file of another shape or an
// unknown schema is set aside, never half-read; the view is read-only,
// nodev, lowerdirs only, with the empty dir under a lone layer.

import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { IMAGE_STORE_SCHEMA, VolumeLeaseRecords } from '../../../src/image/image-store';
import { viewOptions } from '../../../src/image/volume-view';
import { silentLogger } from '../../../src/log';

const lease = {
  containerId: 'c1',
  dir: '/r/image/volumes/c1',
  volumes: [{ index: 2, imageId: 'sha256:' + 'a'.repeat(64), chainIds: ['sha256:' + 'd'.repeat(64)], mountpoint: '/r/image/volumes/c1/2' }],
};

t.test('volume leases: round trip with the schema; bad files set aside', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-volume-leases-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  new VolumeLeaseRecords(dir, silentLogger).put(lease);
  t.match(JSON.parse(readFileSync(join(dir, 'c1.json'), 'utf8')), { schema: IMAGE_STORE_SCHEMA, containerId: 'c1' }, 'written with the schema');
  writeFileSync(join(dir, 'newer.json'), JSON.stringify({ ...lease, containerId: 'newer', schema: IMAGE_STORE_SCHEMA + 1 }));
  writeFileSync(join(dir, 'shape.json'), JSON.stringify({ ...lease, containerId: 'shape', volumes: [{ index: 'x' }] }));
  writeFileSync(join(dir, 'badid.json'), JSON.stringify({ ...lease, containerId: '../x' }));
  const again = new VolumeLeaseRecords(dir, silentLogger);
  again.load();
  t.same(again.list(), [lease], 'the good lease reads back the same, nothing else');
  t.notOk(
    ['newer', 'shape', 'badid'].some((n) => existsSync(join(dir, `${n}.json`))),
    'bad files moved out of the store',
  );
  t.equal(readdirSync(join(dir, 'corrupt')).length, 3, 'kept for inspection');
  again.delete('c1');
  t.notOk(existsSync(join(dir, 'c1.json')), 'delete removes the file');
});

t.test('view options', async (t) => {
  t.equal(viewOptions(['/s/b/fs', '/s/a/fs'], '/e'), 'ro,nodev,lowerdir=/s/b/fs:/s/a/fs', 'lowerdirs only, top first, read-only');
  t.equal(viewOptions(['/s/a/fs'], '/e'), 'ro,nodev,lowerdir=/s/a/fs:/e', 'a lone layer gets the empty dir under it');
  t.throws(() => viewOptions([], '/e'), /at least one layer/, 'no layer');
  t.throws(() => viewOptions(['/s/a,b/fs', '/s/c/fs'], '/e'), /overlayfs options cannot carry/, 'a comma in a path');
});
