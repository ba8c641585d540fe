// Regression: an unreadable image record was only logged and left in place,
// while every other store moves such records aside (issue: "a record that
// cannot be parsed is moved aside and logged, never crashes start-up").

import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { IMAGE_STORE_SCHEMA, ImageRecords, LeaseRecords } from '../../../src/image/image-store';
import { silentLogger } from '../../../src/log';

const cases = [
  { desc: 'image records', make: (dir: string) => new ImageRecords(dir, silentLogger) },
  { desc: 'rootfs leases', make: (dir: string) => new LeaseRecords(dir, silentLogger) },
];

for (const c of cases) {
  t.test(`${c.desc}: unreadable records are moved to corrupt/ and the rest load`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'vmpod-image-store-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'truncated.json'), '{"id": "sha256:ab');
    writeFileSync(join(dir, 'wrong-shape.json'), JSON.stringify({ hello: 'world' }));
    const store = c.make(dir);
    store.load();
    t.same(store.list(), [], 'nothing bogus loaded');
    t.notOk(existsSync(join(dir, 'truncated.json')) || existsSync(join(dir, 'wrong-shape.json')), 'moved out of the store');
    t.equal(readdirSync(join(dir, 'corrupt')).length, 2, 'kept for inspection');
  });
}

// Records carry a schema version (issue 13): files of the first layout (no
// `schema`) still load, what is written says `schema: 1` and reads back the
// same, and a file of an unknown schema is set aside, never half-read.
const image = {
  id: 'sha256:' + 'a'.repeat(64),
  repoTags: ['docker.io/library/busybox:1.36'],
  repoDigests: [],
  size: 1,
  topDigest: 'sha256:' + 'b'.repeat(64),
  manifestDigest: 'sha256:' + 'b'.repeat(64),
  configDigest: 'sha256:' + 'a'.repeat(64),
  layers: [{ digest: 'sha256:' + 'c'.repeat(64), size: 1, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' }],
  diffIds: ['sha256:' + 'd'.repeat(64)],
  chainIds: ['sha256:' + 'd'.repeat(64)],
  os: 'linux',
  architecture: 'amd64',
  config: {},
  pinned: false,
  pulledAt: '1',
};
const lease = { containerId: 'c1', imageId: image.id, chainIds: image.chainIds, layout: {}, ownedDirs: ['/x'] };
const versioned = [
  { desc: 'image records', file: 'a'.repeat(64) + '.json', record: image, make: (dir: string) => new ImageRecords(dir, silentLogger) },
  { desc: 'rootfs leases', file: 'c1.json', record: lease, make: (dir: string) => new LeaseRecords(dir, silentLogger) },
];

for (const c of versioned) {
  t.test(`${c.desc}: the previous layout loads, writes carry schema ${IMAGE_STORE_SCHEMA}, an unknown schema is set aside`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'vmpod-image-store-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, c.file), JSON.stringify(c.record));
    const old = c.make(dir);
    old.load();
    t.same(old.list(), [c.record], 'a file without schema (the first layout) loads as it was');

    (old.put as (v: unknown) => void)(c.record);
    t.equal((JSON.parse(readFileSync(join(dir, c.file), 'utf8')) as { schema?: unknown }).schema, IMAGE_STORE_SCHEMA, 'a write says its schema');
    const again = c.make(dir);
    again.load();
    t.same(again.list(), [c.record], 'and reads back the same record (the schema is the file’s, not the record’s)');

    writeFileSync(join(dir, c.file), JSON.stringify({ ...c.record, schema: IMAGE_STORE_SCHEMA + 1 }));
    const newer = c.make(dir);
    newer.load();
    t.same(newer.list(), [], 'a newer schema is not read');
    t.notOk(existsSync(join(dir, c.file)), 'and is moved out of the store');
    t.equal(readdirSync(join(dir, 'corrupt')).length, 1, 'into corrupt/, kept for inspection');
  });
}
