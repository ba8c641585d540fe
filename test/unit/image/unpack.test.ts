// unpackLayer on tar files made here, no registry: the cases the
// integration tests do not reach.

import t from 'tap';
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { DiffIdMismatchError, unpackLayer } from '../../../src/image/unpack';
import { makeTar, sha256, type TarEntry } from '../../helpers/image-builder';

const dir = mkdtempSync(join(tmpdir(), 'vmpod-unpack-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

async function unpack(entries: TarEntry[], opts: { gzip?: boolean; lowers?: string[]; diffId?: string } = {}): Promise<string> {
  const tarB = await makeTar(entries);
  const blob = join(dir, `blob${n}`);
  writeFileSync(blob, opts.gzip ? gzipSync(tarB) : tarB);
  const target = join(dir, `fs${n++}`);
  mkdirSync(target);
  await unpackLayer({ blobPath: blob, target, lowers: opts.lowers ?? [], diffId: opts.diffId ?? sha256(tarB), mediaTypeCompression: 'none' });
  return target;
}

t.test('a whiteout and a new entry of the same name in one layer: the entry wins', async (t) => {
  const fs = await unpack([{ name: '.wh.x', content: '' }, { name: 'x', content: 'new' }, { name: 'y', content: 'y' }, { name: '.wh.y', content: '' }]);
  t.equal(readFileSync(join(fs, 'x'), 'utf8'), 'new');
  t.equal(readFileSync(join(fs, 'y'), 'utf8'), 'y', 'order does not matter');
});

t.test('devices, fifos and xattrs', async (t) => {
  const fs = await unpack([
    { name: 'dev/' },
    { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 },
    { name: 'dev/loop9', type: 'block-device', devmajor: 7, devminor: 9, mode: 0o660, gid: 6 },
    { name: 'fifo', type: 'fifo', mode: 0o600 },
    { name: 'cap', content: 'x', pax: { 'SCHILY.xattr.user.vmpod': 'hello' } },
  ]);
  const nul = lstatSync(join(fs, 'dev/null'));
  t.ok(nul.isCharacterDevice(), 'char device');
  t.equal(nul.rdev, (1 << 8) | 3, 'major/minor 1/3');
  t.equal(nul.mode & 0o777, 0o666, 'device mode');
  const loop = lstatSync(join(fs, 'dev/loop9'));
  t.ok(loop.isBlockDevice() && loop.gid === 6, 'block device with group');
  t.ok(lstatSync(join(fs, 'fifo')).isFIFO(), 'fifo');
  t.equal(execFileSync('getfattr', ['--only-values', '-n', 'user.vmpod', join(fs, 'cap')]).toString(), 'hello', 'xattr from PAX header');
});

t.test('a hardlink to a file of a lower layer is copied up', async (t) => {
  const lower = await unpack([{ name: 'bin/' }, { name: 'bin/tool', content: 'tool', mode: 0o751, uid: 5 }]);
  const fs = await unpack([{ name: 'alias', type: 'link', linkname: 'bin/tool' }], { lowers: [lower] });
  const st = lstatSync(join(fs, 'alias'));
  t.equal(readFileSync(join(fs, 'alias'), 'utf8'), 'tool');
  t.equal(st.mode & 0o777, 0o751, 'mode copied');
  t.equal(st.uid, 5, 'owner copied');
  await t.rejects(unpack([{ name: 'alias', type: 'link', linkname: 'missing' }], { lowers: [lower] }), /neither in this layer/);
});

t.test('later entries replace earlier ones; dir mtimes survive children', async (t) => {
  const when = new Date('2020-05-05T05:05:05Z');
  const fs = await unpack([
    { name: 'd/', mtime: when },
    { name: 'd/f', content: 'f' },
    { name: 'r/' },
    { name: 'r/child', content: 'c' },
    { name: 'r', content: 'now a file' },
  ]);
  t.equal(lstatSync(join(fs, 'd')).mtime.toISOString(), when.toISOString(), 'dir mtime set after its children');
  t.equal(readFileSync(join(fs, 'r'), 'utf8'), 'now a file', 'file replaced a dir');
});

t.test('gzip is recognised whatever the media type says; a wrong diff id fails', async (t) => {
  const fs = await unpack([{ name: 'g', content: 'gz' }], { gzip: true });
  t.equal(readFileSync(join(fs, 'g'), 'utf8'), 'gz');
  await t.rejects(unpack([{ name: 'g', content: 'gz' }], { diffId: `sha256:${'0'.repeat(64)}` }), DiffIdMismatchError);
  t.notOk(existsSync(join(dir, 'g')), 'nothing beside the target');
});
