import t from 'tap';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readRecordDir } from '../../../src/store/record-dir';

t.test('each file lands in accept, reject or nowhere', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-record-dir-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const files: { desc: string; name: string; body: string; expect: 'accept' | 'reject' | 'skip' | 'deleted' }[] = [
    { desc: 'a good record is accepted', name: 'a.json', body: '{"id":"a"}', expect: 'accept' },
    { desc: 'unparseable JSON is rejected', name: 'b.json', body: '{"id":', expect: 'reject' },
    { desc: 'a record accept throws on is rejected', name: 'c.json', body: '{"id":"wrong"}', expect: 'reject' },
    { desc: 'a non-JSON name is skipped', name: 'notes.txt', body: 'x', expect: 'skip' },
    { desc: 'a temp file from an interrupted write is deleted', name: '.d.json.tmp-1', body: '{', expect: 'deleted' },
  ];
  for (const f of files) writeFileSync(join(dir, f.name), f.body);
  mkdirSync(join(dir, 'corrupt'));
  const accepted: string[] = [];
  const rejected: string[] = [];
  readRecordDir(
    dir,
    (name, v) => {
      if ((v as { id: string }).id !== name.replace(/\.json$/, '')) throw new Error('id does not match the file name');
      accepted.push(name);
    },
    (name) => rejected.push(name),
  );
  for (const f of files) {
    const got = accepted.includes(f.name) ? 'accept' : rejected.includes(f.name) ? 'reject' : existsSync(join(dir, f.name)) ? 'skip' : 'deleted';
    t.equal(got, f.expect, f.desc);
  }
});

t.test('a missing dir is created', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-record-dir-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  readRecordDir(
    join(dir, 'new'),
    () => undefined,
    () => undefined,
  );
  t.ok(existsSync(join(dir, 'new')), 'created');
});
