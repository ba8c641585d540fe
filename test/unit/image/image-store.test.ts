// Regression: an unreadable image record was only logged and left in place,
// while every other store moves such records aside (issue: "a record that
// cannot be parsed is moved aside and logged, never crashes start-up").

import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ImageRecords, LeaseRecords } from '../../../src/image/image-store';
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
