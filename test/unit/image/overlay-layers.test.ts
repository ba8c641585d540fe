// An overlay of many layers: past what 64-hex lowerdir names fit in the one
// page of mount options, the snapshot store's short links are used. Real
// mount (root), real overlayfs, snapshots made by hand.

import t from 'tap';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chainIds, isMountpoint, mountOverlay, overlayOptions, SnapshotStore, unmount } from '../../../src/image/snapshots';
import { sha256 } from '../../../src/image/content-store';

const LAYERS = 150;

t.test(`an image of ${LAYERS} layers mounts, top layer first`, async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'vmpod-overlay-'));
  const store = new SnapshotStore(root);
  await store.init();
  const chain = chainIds(Array.from({ length: LAYERS }, (_, i) => sha256(`layer ${i}`)));
  for (const [i, c] of chain.entries()) {
    mkdirSync(store.fsDir(c), { recursive: true });
    writeFileSync(join(store.fsDir(c), `layer-${i}`), String(i));
    writeFileSync(join(store.fsDir(c), 'same'), String(i));
  }
  const layout = { lowerdirs: [...chain].reverse().map((c) => store.fsDir(c)), upper: join(root, 'c', 'upper'), work: join(root, 'c', 'work'), mountpoint: join(root, 'c', 'rootfs') };
  mkdirSync(layout.upper, { recursive: true });
  mkdirSync(layout.work, { recursive: true });
  t.teardown(async () => {
    await unmount(layout.mountpoint);
    rmSync(root, { recursive: true, force: true });
  });
  t.ok(overlayOptions(layout).length > 4096, 'the absolute options would not fit one page');
  await mountOverlay(layout, store);
  t.ok(await isMountpoint(layout.mountpoint), 'mounted');
  const names = readdirSync(layout.mountpoint);
  t.equal(names.filter((n) => n.startsWith('layer-')).length, LAYERS, 'every layer is visible');
  t.equal(readFileSync(join(layout.mountpoint, 'same'), 'utf8'), String(LAYERS - 1), 'the top layer wins');
  t.equal(readdirSync(join(store.dir, 'l')).length, LAYERS, 'one short link per snapshot');
  t.same(await store.list(), [...chain].sort(), 'the link dir is not taken for a snapshot');
  await mountOverlay(layout, store);
  t.pass('mounting again is a no-op');
  await unmount(layout.mountpoint);
  await mountOverlay(layout, store);
  t.ok(await isMountpoint(layout.mountpoint), 'mounts again over the existing links');
  await unmount(layout.mountpoint);

  await store.remove(chain[0]);
  t.notOk(existsSync(store.fsDir(chain[0])), 'snapshot removed');
  t.equal(readdirSync(join(store.dir, 'l')).length, LAYERS - 1, 'and its short link with it');
  await t.rejects(store.shortLink('/elsewhere/abc/fs'), /is not a snapshot/, 'a path outside the store gets no link');
});
