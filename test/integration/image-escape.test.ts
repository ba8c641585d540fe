// Layers that try to write outside their snapshot: every case fails the
// pull, writes nothing outside, and leaves no snapshot, blob or record.

import t from 'tap';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createImageService, type ImageService } from '../../src/image';
import { silentLogger } from '../../src/log';
import { makeTar, RegistryPusher, type TarEntry } from '../helpers/image-builder';
import { startRegistry, type RunningRegistry } from '../helpers/registry';

let reg: RunningRegistry;
let push: RegistryPusher;
let root: string;
let outside: string;
let svc: ImageService;

t.before(async () => {
  reg = await startRegistry();
  push = new RegistryPusher(reg);
  root = mkdtempSync(join(tmpdir(), 'vmpod-image-'));
  outside = mkdtempSync(join(tmpdir(), 'vmpod-outside-'));
  svc = await createImageService({ root, registries: { [reg.host]: { insecure: true, mirrors: [] } }, log: silentLogger });
});
t.teardown(async () => {
  await reg?.stop();
  rmSync(root, { recursive: true, force: true });
  rmSync(outside, { recursive: true, force: true });
});

const cases: { desc: string; entries: () => TarEntry[]; message: RegExp }[] = [
  { desc: '".." component', entries: () => [{ name: '../../../evil', content: 'x' }], message: /"\.\." component/ },
  { desc: '".." in the middle', entries: () => [{ name: 'a/' }, { name: 'a/../../evil', content: 'x' }], message: /"\.\." component/ },
  { desc: 'absolute path', entries: () => [{ name: `${outside}/evil`, content: 'x' }], message: /absolute path/ },
  {
    desc: 'file through a symlinked parent',
    entries: () => [
      { name: 'link', type: 'symlink', linkname: outside },
      { name: 'link/evil', content: 'x' },
    ],
    message: /symlink/,
  },
  {
    desc: 'dir through a nested symlinked parent',
    entries: () => [{ name: 'd/' }, { name: 'd/s', type: 'symlink', linkname: '../../../../../../../..' + outside }, { name: 'd/s/evil/' }],
    message: /symlink/,
  },
  {
    desc: 'whiteout through a symlinked parent',
    entries: () => [
      { name: 'wl', type: 'symlink', linkname: outside },
      { name: 'wl/.wh.evil', content: '' },
    ],
    message: /symlink/,
  },
  {
    desc: 'opaque marker through a symlinked parent',
    entries: () => [
      { name: 'ol', type: 'symlink', linkname: outside },
      { name: 'ol/.wh..wh..opq', content: '' },
    ],
    message: /symlink/,
  },
  { desc: 'hardlink to a relative path outside', entries: () => [{ name: 'hl', type: 'link', linkname: '../../../../etc/passwd' }], message: /"\.\." component/ },
  { desc: 'hardlink to an absolute path', entries: () => [{ name: 'hl', type: 'link', linkname: '/etc/passwd' }], message: /absolute path/ },
  {
    desc: 'hardlink through a symlinked parent',
    entries: () => [
      { name: 'e', type: 'symlink', linkname: '/etc' },
      { name: 'hl', type: 'link', linkname: 'e/passwd' },
    ],
    message: /symlink/,
  },
  {
    desc: 'symlink replaced parent after a good file',
    entries: () => [{ name: 'p/' }, { name: 'p/ok', content: 'ok' }, { name: 'p', type: 'symlink', linkname: outside }, { name: 'p/evil', content: 'x' }],
    message: /symlink/,
  },
];

for (const [i, c] of cases.entries()) {
  t.test(c.desc, async (t) => {
    const good = await makeTar([{ name: 'good/' }, { name: 'good/file', content: `case ${i}` }]);
    const bad = await makeTar(c.entries());
    const img = await push.pushImage(`test/escape${i}`, 'v1', [
      { tar: good, compression: 'gzip' },
      { tar: bad, compression: 'gzip' },
    ]);
    const snapsBefore = await svc.snapshots.list();
    await t.rejects(svc.pull(`${reg.host}/test/escape${i}:v1`, null), { code: 'FAILED_PRECONDITION', message: c.message }, 'pull refused');
    t.same(readdirSync(outside), [], 'nothing written outside');
    t.notOk(existsSync(join(root, 'image', 'snapshots', 'evil')) || existsSync(join(root, 'evil')) || existsSync(join(root, 'image', 'evil')), 'nothing written beside the snapshot');
    t.same(await svc.snapshots.list(), snapsBefore, 'no snapshot of this image left');
    t.same(
      readdirSync(svc.snapshots.dir).filter((n) => n.startsWith('.tmp-')),
      [],
      'no temp unpack dir left',
    );
    t.notOk(await svc.content.has(img.layerDigests[1]), 'bad layer blob not kept');
    t.equal(svc.find(`${reg.host}/test/escape${i}:v1`), undefined, 'no image record');
  });
}
