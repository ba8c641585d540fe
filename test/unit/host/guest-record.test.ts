import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chooseGuestDir, CHECKOUT_GUEST_RECORD, readGuestRecord } from '../../../src/host/guest-record';

const HASH = 'd'.repeat(64);

t.test('the record lives in the checkout that runs, under dist/', async (t) => {
  // This test runs as <checkout>/dist/test/unit/host/guest-record.test.js.
  t.equal(CHECKOUT_GUEST_RECORD, join(__dirname, '..', '..', '..', 'guest-image.json'));
});

const cases: Array<{ desc: string; content: string; expect: RegExp | { hash: string; dir: string } }> = [
  { desc: 'a record as the build writes it', content: JSON.stringify({ schema: 1, hash: HASH, dir: `/var/cache/vmpod/guest/${HASH}` }), expect: { hash: HASH, dir: `/var/cache/vmpod/guest/${HASH}` } },
  { desc: 'not JSON', content: '{', expect: /cannot be read/ },
  { desc: 'another schema', content: JSON.stringify({ schema: 2, hash: HASH, dir: '/x' }), expect: /not a schema 1/ },
  { desc: 'a hash that is not a sha256', content: JSON.stringify({ schema: 1, hash: 'current', dir: '/x' }), expect: /no valid "hash"/ },
  { desc: 'a relative dir', content: JSON.stringify({ schema: 1, hash: HASH, dir: 'guest/x' }), expect: /no absolute "dir"/ },
];

for (const c of cases) {
  t.test(`readGuestRecord: ${c.desc}`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'vmpod-guest-record-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, 'guest-image.json');
    writeFileSync(path, c.content);
    const r = readGuestRecord(path);
    if (c.expect instanceof RegExp) t.match(r, { problem: c.expect });
    else t.match(r, c.expect);
  });
}

t.test('chooseGuestDir: config first, then the record, never a shared link', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-guest-record-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const record = join(dir, 'dist', 'guest-image.json');
  t.match(chooseGuestDir('/srv/guest', record), { dir: '/srv/guest', why: /guest_dir = .* in the handler's config/ });
  t.match(chooseGuestDir(undefined, record), { missing: /run guest-image\/build in .*, or set the VM handler's guest_dir/ });
  t.notMatch(JSON.stringify(chooseGuestDir('', record)), /current/, "no fallback to the cache's current link");
});
