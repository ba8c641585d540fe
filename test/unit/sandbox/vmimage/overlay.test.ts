import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { decodeOverlayRecord, OVERLAY_RECORD, overlayPlan, prepareOverlay, type OverlayBase, type OverlayRecord } from '../../../../src/sandbox/vmimage/overlay';

const base: OverlayBase = { imageKey: 'sha256:aaa', diskName: 'disk.qcow2', format: 'qcow2', virtualSize: 2 ** 30 };
const rec = (o: Partial<OverlayRecord> = {}): OverlayRecord => ({ v: 1, ...base, containerName: 'vm', ...o });

t.test('overlay plan: reuse over the same image, fresh over another', async (t) => {
  t.equal(overlayPlan(undefined, false, base), 'create', 'first container');
  t.equal(overlayPlan(rec(), true, base), 'reuse', 'restart over the same image');
  t.equal(overlayPlan(rec({ imageKey: 'sha256:bbb' }), true, base), 'replace', 'image changed');
  t.equal(overlayPlan(rec({ diskName: 'other.img' }), true, base), 'replace', 'disk changed');
  t.equal(overlayPlan(rec({ virtualSize: 2 ** 31 }), true, base), 'replace', 'size changed');
  t.equal(overlayPlan(rec({ format: 'raw' }), true, base), 'replace', 'format changed');
  t.equal(overlayPlan(undefined, true, base), 'replace', 'an overlay without a record (crash before the record): made afresh');
  t.equal(overlayPlan(rec(), false, base), 'create', 'a record without an overlay');
});

t.test('overlay record decoding is defensive', async (t) => {
  t.same(decodeOverlayRecord(JSON.stringify(rec())), rec());
  for (const [desc, text] of [
    ['not JSON', '{'],
    ['another version', JSON.stringify(rec({ v: 2 as 1 }))],
    ['bad format', JSON.stringify({ ...rec(), format: 'vmdk' })],
    ['negative size', JSON.stringify(rec({ virtualSize: -1 }))],
    ['size not a number', JSON.stringify({ ...rec(), virtualSize: '1' })],
    ['no image key', JSON.stringify({ ...rec(), imageKey: 3 })],
  ])
    t.equal(decodeOverlayRecord(text), undefined, desc);
});

t.test('prepareOverlay makes a qcow2 over the base without opening it, then reuses or replaces it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vmimage-overlay-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // The base does not even exist: qemu-img -u must not open it.
  const first = await prepareOverlay(dir, join(dir, 'no-such-base.qcow2'), base, 'vm');
  t.equal(first.plan, 'create');
  const info = JSON.parse(execFileSync('qemu-img', ['info', '--output=json', '-U', first.path]).toString()) as Record<string, unknown>;
  t.equal(info.format, 'qcow2');
  t.equal(info['virtual-size'], 2 ** 30);
  t.equal(info['backing-filename-format'], 'qcow2');
  // What the guest wrote: a byte past the header that a fresh overlay would not have.
  appendFileSync(first.path, 'guest-data');
  const written = statSync(first.path);
  const again = await prepareOverlay(dir, join(dir, 'no-such-base.qcow2'), base, 'vm');
  t.equal(again.plan, 'reuse', 'same image: reused');
  t.equal(statSync(again.path).ino, written.ino, 'the very file');
  t.equal(statSync(again.path).size, written.size, 'with what was written');
  const other = await prepareOverlay(dir, join(dir, 'no-such-base.raw'), { ...base, imageKey: 'sha256:bbb', format: 'raw' }, 'vm');
  t.equal(other.plan, 'replace');
  t.not(statSync(other.path).size, written.size, 'a new file, without the old data');
  const fresh = JSON.parse(execFileSync('qemu-img', ['info', '--output=json', '-U', other.path]).toString()) as Record<string, unknown>;
  t.equal(fresh['backing-filename-format'], 'raw', 'the new overlay lies over the new base');
  t.same(decodeOverlayRecord(readFileSync(join(dir, OVERLAY_RECORD), 'utf8'))?.imageKey, 'sha256:bbb');
});
