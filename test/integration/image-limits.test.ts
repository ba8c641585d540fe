// What one pull may cost the node: a small zstd layer that expands to 4 GiB
// of zeros is refused at the 1 GiB layer limit while it streams, and an image
// whose layers together pass the image limit is refused at the layer that
// crosses it. Either way RESOURCE_EXHAUSTED, and nothing of the pull is left.

import t, { type Test } from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createImageService, type ImageService } from '../../src/image';
import { silentLogger } from '../../src/log';
import { RegistryPusher } from '../helpers/image-builder';
import { startRegistry, type RunningRegistry } from '../helpers/registry';

const GiB = 1024 ** 3;
let reg: RunningRegistry;
let push: RegistryPusher;
let root: string;
let work: string;
let svc: ImageService;

/** A zstd tar of one file of `size` zero bytes, made from a sparse file so neither side holds it. */
function zeroLayer(name: string, size: number): Buffer {
  const dir = join(work, name);
  execFileSync('mkdir', ['-p', dir]);
  execFileSync('truncate', ['-s', String(size), join(dir, 'zeros')]);
  const out = join(work, `${name}.tar.zst`);
  execFileSync('bash', ['-c', 'tar -C "$1" -cf - zeros | zstd -1 -q -c > "$2"', '-', dir, out]);
  rmSync(dir, { recursive: true, force: true });
  return readFileSync(out);
}

/** The diff_id of a tar we do not hash (4 GiB): the limit must fire before the end, where the diff_id is checked. */
const UNCHECKED_DIFF_ID = `sha256:${'0'.repeat(64)}`;

t.before(async () => {
  reg = await startRegistry();
  push = new RegistryPusher(reg);
  root = mkdtempSync(join(tmpdir(), 'vmpod-image-limits-'));
  work = mkdtempSync(join(tmpdir(), 'vmpod-image-bombs-'));
  svc = await createImageService({ root, registries: { [reg.host]: { insecure: true, mirrors: [] } }, log: silentLogger, limits: { layerBytes: 1 * GiB, imageBytes: 1 * GiB + 64 * 1024 ** 2 } });
});
t.teardown(async () => {
  await reg?.stop();
  rmSync(root, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
});

async function leavesNothing(t: Test, ref: string, layerDigests: string[], snapsBefore: string[]): Promise<void> {
  t.same(await svc.snapshots.list(), snapsBefore, 'no snapshot of this image left');
  t.same(
    readdirSync(svc.snapshots.dir).filter((n) => n.startsWith('.tmp-')),
    [],
    'no temp unpack dir left (the partial 1 GiB is deleted)',
  );
  for (const d of layerDigests) t.notOk(await svc.content.has(d), `blob ${d.slice(7, 19)} not kept`);
  t.equal(svc.find(ref), undefined, 'no image record');
}

t.test('a 4 GiB zero-file layer (a few hundred KiB of zstd) is refused at the 1 GiB layer limit', async (t) => {
  const blob = zeroLayer('bomb', 4 * GiB);
  t.ok(blob.length < 1024 * 1024, `the layer is ${blob.length} bytes compressed`);
  const img = await push.pushImage('test/bomb', 'v1', [{ blob, diffId: UNCHECKED_DIFF_ID, compression: 'zstd' }]);
  const snapsBefore = await svc.snapshots.list();
  await t.rejects(svc.pull(`${reg.host}/test/bomb:v1`, null), {
    code: 'RESOURCE_EXHAUSTED',
    message: /layer 0 .* refused: it unpacks to more than 1073741824 bytes, past the layer limit; nothing of it was kept/,
  });
  await leavesNothing(t, `${reg.host}/test/bomb:v1`, img.layerDigests, snapsBefore);
});

t.test('layers that together pass the image limit are refused at the one that crosses it', async (t) => {
  const a = zeroLayer('a', 600 * 1024 ** 2);
  const b = zeroLayer('b', 600 * 1024 ** 2 + 1);
  // Layer 0 is within both limits, so it is unpacked to its end, where its diff_id is checked: it gets the real one.
  const diffA = `sha256:${execFileSync('bash', ['-c', 'zstd -d -q -c | sha256sum'], { input: a }).toString().slice(0, 64)}`;
  const img2 = await push.pushImage('test/sum', 'v2', [
    { blob: a, diffId: diffA, compression: 'zstd' },
    { blob: b, diffId: UNCHECKED_DIFF_ID, compression: 'zstd' },
  ]);
  const snapsBefore = await svc.snapshots.list();
  await t.rejects(svc.pull(`${reg.host}/test/sum:v2`, null), {
    code: 'RESOURCE_EXHAUSTED',
    message: /layer 1 .* refused: it unpacks to more than \d+ bytes, past the image limit of 1140850688 bytes \(\d+ unpacked before this layer\)/,
  });
  await leavesNothing(t, `${reg.host}/test/sum:v2`, img2.layerDigests, snapsBefore);
});
