// unpackLayer on tar files made here, no registry: the cases the
// integration tests do not reach.

import t from 'tap';
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { DiffIdMismatchError, unpackLayer, type UnpackLimits } from '../../../src/image/unpack';
import { makeTar, sha256, type TarEntry } from '../../helpers/image-builder';

const dir = mkdtempSync(join(tmpdir(), 'vmpod-unpack-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

async function unpack(entries: TarEntry[], opts: { gzip?: boolean; lowers?: string[]; diffId?: string; limits?: Partial<UnpackLimits> } = {}): Promise<string> {
  const tarB = await makeTar(entries);
  const blob = join(dir, `blob${n}`);
  writeFileSync(blob, opts.gzip ? gzipSync(tarB) : tarB);
  const target = join(dir, `fs${n++}`);
  mkdirSync(target);
  await unpackLayer({ blobPath: blob, target, lowers: opts.lowers ?? [], diffId: opts.diffId ?? sha256(tarB), mediaTypeCompression: 'none', limits: opts.limits });
  return target;
}

t.test('a whiteout and a new entry of the same name in one layer: the entry wins', async (t) => {
  const fs = await unpack([
    { name: '.wh.x', content: '' },
    { name: 'x', content: 'new' },
    { name: 'y', content: 'y' },
    { name: '.wh.y', content: '' },
  ]);
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
  const fs = await unpack([{ name: 'd/', mtime: when }, { name: 'd/f', content: 'f' }, { name: 'r/' }, { name: 'r/child', content: 'c' }, { name: 'r', content: 'now a file' }]);
  t.equal(lstatSync(join(fs, 'd')).mtime.toISOString(), when.toISOString(), 'dir mtime set after its children');
  t.equal(readFileSync(join(fs, 'r'), 'utf8'), 'now a file', 'file replaced a dir');
});

t.test('gzip is recognised whatever the media type says; a wrong diff id fails', async (t) => {
  const fs = await unpack([{ name: 'g', content: 'gz' }], { gzip: true });
  t.equal(readFileSync(join(fs, 'g'), 'utf8'), 'gz');
  await t.rejects(unpack([{ name: 'g', content: 'gz' }], { diffId: `sha256:${'0'.repeat(64)}` }), DiffIdMismatchError);
  t.notOk(existsSync(join(dir, 'g')), 'nothing beside the target');
});

/** A ustar header block (enough of one for tar-stream and the PAX scanner). */
function ustar(name: string, type: string, size: number): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0);
  h.write('0000644\0', 100);
  h.write('0000000\0', 108);
  h.write('0000000\0', 116);
  h.write(size.toString(8).padStart(11, '0') + '\0', 124);
  h.write('14540000000\0', 136);
  h.write('        ', 148);
  h.write(type, 156);
  h.write('ustar\0' + '00', 257);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
  return h;
}

function pad(b: Buffer): Buffer {
  return Buffer.concat([b, Buffer.alloc((512 - (b.length % 512)) % 512)]);
}

t.test('binary xattr values from PAX (file capabilities) are kept byte for byte', async (t) => {
  const value = Buffer.from([0x01, 0x00, 0x00, 0x02, 0xff, 0xfe, 0x80, 0x00]);
  const key = Buffer.from(' SCHILY.xattr.user.bin=');
  const body = Buffer.concat([key, value, Buffer.from('\n')]);
  let len = body.length + 2;
  if (String(len).length + body.length !== len) len = String(len + 1).length + body.length;
  const record = Buffer.concat([Buffer.from(String(len)), body]);
  const content = Buffer.from('binary\n');
  const tarB = Buffer.concat([
    ustar('./PaxHeaders/bin', 'x', record.length),
    pad(record),
    ustar('bin', '0', content.length),
    pad(content),
    ustar('plain', '0', 2),
    pad(Buffer.from('p\n')),
    Buffer.alloc(1024),
  ]);
  const blob = join(dir, 'rawpax');
  writeFileSync(blob, tarB);
  const target = join(dir, 'rawpax-fs');
  mkdirSync(target);
  await unpackLayer({ blobPath: blob, target, lowers: [], diffId: sha256(tarB), mediaTypeCompression: 'none' });
  t.equal(readFileSync(join(target, 'bin'), 'utf8'), 'binary\n');
  const got = execFileSync('getfattr', ['--only-values', '-n', 'user.bin', join(target, 'bin')]);
  t.equal(got.toString('hex'), value.toString('hex'), 'xattr bytes unchanged');
  t.throws(() => execFileSync('getfattr', ['-n', 'user.bin', join(target, 'plain')], { stdio: 'ignore' }), 'the next entry has no xattr');
});

t.test('archives from GNU tar (posix with xattrs and long names, gnu long names) unpack in sync', async (t) => {
  const src = mkdtempSync(join(dir, 'gnutar-src-'));
  const long = 'n'.repeat(150);
  mkdirSync(join(src, long));
  writeFileSync(join(src, long, 'file'), 'a');
  writeFileSync(join(src, 'cap'), 'b');
  writeFileSync(join(src, 'zzz'), 'c');
  execFileSync('setfattr', ['-n', 'user.k', '-v', '0xff00', join(src, 'cap')]);
  for (const format of ['posix', 'gnu']) {
    const tarPath = join(dir, `${format}.tar`);
    execFileSync('tar', [...(format === 'posix' ? ['--xattrs', '--xattrs-include=*'] : []), `--format=${format}`, '--sort=name', '-C', src, '-cf', tarPath, '.'], { stdio: 'ignore' });
    const target = join(dir, `${format}-fs`);
    mkdirSync(target);
    await unpackLayer({ blobPath: tarPath, target, lowers: [], diffId: sha256(readFileSync(tarPath)), mediaTypeCompression: 'none' });
    t.equal(readFileSync(join(target, long, 'file'), 'utf8'), 'a', `${format}: long name`);
    if (format === 'posix') t.equal(execFileSync('getfattr', ['--only-values', '-n', 'user.k', join(target, 'cap')]).toString('hex'), 'ff00', 'posix: xattr on the right file');
    t.throws(() => execFileSync('getfattr', ['-n', 'user.k', join(target, 'zzz')], { stdio: 'ignore' }), `${format}: no xattr on the next file`);
  }
});

t.test('parents the layer does not list are taken from the lowers', async (t) => {
  const lower = await unpack([
    { name: 'tmp/', mode: 0o1777, uid: 3, mtime: new Date('2021-01-01T00:00:00Z') },
    { name: 'usr/' },
    { name: 'usr/lib/' },
    { name: 'lib', type: 'symlink', linkname: 'usr/lib' },
    { name: 'abs', type: 'symlink', linkname: '/opt/x' },
    { name: 'up', type: 'symlink', linkname: '../../../../../../opt/y' },
    { name: 'loop1', type: 'symlink', linkname: 'loop2' },
    { name: 'loop2', type: 'symlink', linkname: 'loop1' },
  ]);
  const fs = await unpack(
    [
      { name: 'tmp/new', content: 'n' },
      { name: 'lib/libfoo.so', content: 'so' },
      { name: 'abs/f', content: 'a' },
      { name: 'up/g', content: 'u' },
    ],
    { lowers: [lower] },
  );
  const tmp = lstatSync(join(fs, 'tmp'));
  t.equal(tmp.mode & 0o7777, 0o1777, 'implicit parent keeps the lower dir mode');
  t.equal(tmp.uid, 3, 'and owner');
  t.equal(tmp.mtime.toISOString(), '2021-01-01T00:00:00.000Z', 'and mtime');
  t.equal(readFileSync(join(fs, 'usr/lib/libfoo.so'), 'utf8'), 'so', 'written through the lower symlink lib -> usr/lib');
  t.notOk(existsSync(join(fs, 'lib')), 'the lower symlink is not shadowed by a directory');
  t.equal(readFileSync(join(fs, 'opt/x/f'), 'utf8'), 'a', 'absolute lower symlink resolved inside the image root');
  t.equal(readFileSync(join(fs, 'opt/y/g'), 'utf8'), 'u', '".." in a lower symlink stops at the image root');
  await t.rejects(unpack([{ name: 'loop1/f', content: 'x' }], { lowers: [lower] }), /too many levels of symlinks/);
  const hidden = await unpack([{ name: '.wh.tmp', content: '' }], { lowers: [lower] });
  const again = await unpack([{ name: 'tmp/z', content: 'z' }], { lowers: [hidden, lower] });
  t.equal(lstatSync(join(again, 'tmp')).mode & 0o7777, 0o755, 'a whited-out lower dir is not copied');
});

t.test('xattrs beyond the kernel limits fail the layer before they are buffered (they were held without bound)', async (t) => {
  const cases = [
    { desc: 'value over XATTR_SIZE_MAX', pax: { 'SCHILY.xattr.user.big': 'v'.repeat(64 * 1024 + 1) } },
    { desc: 'name over XATTR_NAME_MAX', pax: { [`SCHILY.xattr.user.${'n'.repeat(251)}`]: 'v' } },
  ];
  for (const c of cases) {
    await t.rejects(unpack([{ name: 'f', content: 'x', pax: c.pax }]), /exceeds the kernel's limits/, c.desc);
  }
  const fs = await unpack([{ name: 'f', content: 'x', pax: { 'SCHILY.xattr.user.ok': 'v'.repeat(1024) } }]);
  t.equal(execFileSync('getfattr', ['--only-values', '-n', 'user.ok', join(fs, 'f')]).toString().length, 1024, 'a value within the limits is set');
});

t.test("an xattr value of the full 64 KiB, and an empty one, are set (the hex form was over the kernel's 128 KiB argument limit)", async (t) => {
  // ext4 here holds at most a block of xattrs; tmpfs takes 64 KiB values.
  const mnt = join(dir, 'tmpfs-xattr');
  mkdirSync(mnt);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', mnt]);
  t.teardown(() => execFileSync('umount', ['-l', mnt]));
  const value = Buffer.alloc(64 * 1024, 'v');
  const tarB = await makeTar([{ name: 'f', content: 'x', pax: { 'SCHILY.xattr.user.big': value.toString(), 'SCHILY.xattr.user.empty': '' } }]);
  const blob = join(dir, 'blob-xattr-64k');
  writeFileSync(blob, tarB);
  await unpackLayer({ blobPath: blob, target: mnt, lowers: [], diffId: sha256(tarB), mediaTypeCompression: 'none' });
  const got = execFileSync('getfattr', ['--only-values', '-n', 'user.big', join(mnt, 'f')], { maxBuffer: 1 << 20 });
  t.equal(got.length, value.length, 'all 65536 bytes');
  t.ok(got.equals(value), 'byte for byte');
  t.equal(execFileSync('getfattr', ['--only-values', '-n', 'user.empty', join(mnt, 'f')]).length, 0, 'an empty value is set too');
});

t.test('what a layer makes the daemon hold is bounded (entry names and xattrs were held without bound)', async (t) => {
  const many = Array.from({ length: 20 }, (_, i) => ({ name: `${'d'.repeat(40)}-${i}`, type: 'character-device' as const, devmajor: 1, devminor: 3 }));
  const cases: { desc: string; entries: TarEntry[]; limits: Partial<UnpackLimits>; error: RegExp }[] = [
    { desc: 'entry names over the held-bytes limit', entries: many, limits: { heldBytes: 512 }, error: /exceed 512 bytes/ },
    { desc: 'xattrs over the held-bytes limit', entries: [{ name: 'f', content: 'x', pax: { 'SCHILY.xattr.user.v': 'v'.repeat(600) } }], limits: { heldBytes: 512 }, error: /exceed 512 bytes/ },
    { desc: 'more entries than the limit', entries: many, limits: { entries: 10 }, error: /more than 10 entries/ },
  ];
  for (const c of cases) await t.rejects(unpack(c.entries, { limits: c.limits }), c.error, c.desc);
  const fs = await unpack(many, { limits: { heldBytes: 4096, entries: 20 } });
  t.ok(lstatSync(join(fs, many[19].name)).isCharacterDevice(), 'a layer within the limits unpacks');
});

t.test('overlayfs metadata xattrs from a layer are dropped (they would steer lookups inside the overlay)', async (t) => {
  const fs = await unpack([
    { name: 'd/', pax: { 'SCHILY.xattr.trusted.overlay.redirect': '/etc' } },
    { name: 'f', content: 'x', pax: { 'SCHILY.xattr.trusted.overlay.metacopy': '', 'SCHILY.xattr.user.kept': 'yes' } },
    { name: 'o/', pax: { 'SCHILY.xattr.trusted.overlay.opaque': 'y' } },
  ]);
  const has = (path: string, name: string) => {
    try {
      execFileSync('getfattr', ['-n', name, join(fs, path)], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  };
  t.notOk(has('d', 'trusted.overlay.redirect'), 'redirect dropped');
  t.notOk(has('f', 'trusted.overlay.metacopy'), 'metacopy dropped');
  t.notOk(has('o', 'trusted.overlay.opaque'), 'opaque only from the OCI .wh..wh..opq marker');
  t.equal(execFileSync('getfattr', ['--only-values', '-n', 'user.kept', join(fs, 'f')]).toString(), 'yes', 'other xattrs kept');
});

t.test('replacing directories costs the replaced subtree, not every entry seen so far (a small layer made it quadratic)', async (t) => {
  // Many files first, then directories that later entries replace with files: each replacement used to rescan every key.
  const entries: TarEntry[] = [{ name: 'big/' }];
  for (let i = 0; i < 3000; i++) entries.push({ name: `big/f${i}`, content: '' });
  for (let i = 0; i < 300; i++) entries.push({ name: `s${i}/` }, { name: `s${i}/inner`, content: 'x' }, { name: `s${i}`, content: 'now a file' });
  entries.push({ name: 's0/' }, { name: 's0/again', content: 'y' }); // and back to a directory
  const tarB = await makeTar(entries);
  const blob = join(dir, `blob${n}`);
  writeFileSync(blob, tarB);
  const target = join(dir, `fs${n++}`);
  mkdirSync(target);
  const stats = await unpackLayer({ blobPath: blob, target, lowers: [], diffId: sha256(tarB), mediaTypeCompression: 'none' });
  t.ok(stats.forgetVisits <= 2 * 300 + 2, `forgetting visited ${stats.forgetVisits} index entries for 301 replacements of 2-entry subtrees (linear), not ~${300 * 3000}`);
  t.equal(readFileSync(join(target, 's7'), 'utf8'), 'now a file', 'a replaced directory is a file');
  t.notOk(existsSync(join(target, 's0/inner')), 'what the replaced directory held is gone');
  t.equal(readFileSync(join(target, 's0/again'), 'utf8'), 'y', 'the directory made again holds only its new entries');
  t.equal(readFileSync(join(target, 'big/f2999'), 'utf8'), '', 'untouched entries stay');
});

t.test('a layer that unpacks past its byte limit is refused while it streams', async (t) => {
  const big = Buffer.alloc(4 << 20);
  await t.rejects(unpack([{ name: 'zeros', content: big }], { limits: { bytes: 1 << 20 } }), { name: 'LayerTooLargeError', kind: 'bytes', message: /more than 1048576 bytes/ });
  await t.rejects(
    unpack([{ name: 'zeros', content: big }], { limits: { freeFloorBytes: Number.MAX_SAFE_INTEGER } }),
    { name: 'LayerTooLargeError', kind: 'free-space', message: /less than .* bytes free/ },
    'the free-space floor',
  );
  const fs = await unpack([{ name: 'zeros', content: big }], { limits: { bytes: 5 << 20 } });
  t.equal(lstatSync(join(fs, 'zeros')).size, 4 << 20, 'under the limit it unpacks');
});

t.test('an abort stops the unpack in the middle of a large file', async (t) => {
  // A zstd tar of one 1 GiB zero file, made from a sparse file: a few KiB to hold, seconds to write out.
  const size = 1024 ** 3;
  const src = join(dir, 'big-src');
  mkdirSync(src);
  execFileSync('truncate', ['-s', String(size), join(src, 'zeros')]);
  const blob = join(dir, 'big.tar.zst');
  execFileSync('bash', ['-c', 'tar -C "$1" -cf - zeros | zstd -1 -q -c > "$2"', '-', src, blob]);
  rmSync(src, { recursive: true, force: true });
  const target = join(dir, `fs${n++}`);
  mkdirSync(target);
  const stop = new AbortController();
  const reason = new Error('nobody waits for this layer any more');
  const unpacking = unpackLayer({ blobPath: blob, target, lowers: [], diffId: `sha256:${'0'.repeat(64)}`, mediaTypeCompression: 'zstd', signal: stop.signal });
  unpacking.catch(() => undefined);
  const file = join(target, 'zeros');
  for (let i = 0; i < 1000 && !(existsSync(file) && lstatSync(file).size > 0); i++) await new Promise((r) => setTimeout(r, 10));
  t.ok(existsSync(file), 'the file is being written when the abort comes');
  stop.abort(reason);
  await t.rejects(unpacking, 'the unpack rejects');
  t.ok(lstatSync(file).size < size, 'it stopped before the end of the file');
  rmSync(target, { recursive: true, force: true });
});
