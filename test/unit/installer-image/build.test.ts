// The installer image builder (src/installer-image) on a stub checkout: two
// builds of the same inputs give the same manifest digest even when file
// times and permission bits differ between them; a changed byte changes it;
// the layers hold the payload install.sh expects (production packages only,
// no source maps, only the guest parts the manifest names) with fixed
// owners and times; the config's diff_ids are the layers' tars. And the pure
// parts: ldd parsing, the lockfile's production set, entry ordering, the
// command line.

import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import t from 'tap';
import * as tar from 'tar-stream';
import { buildInstallerImage, INSTALL_SH } from '../../../src/installer-image/build';
import { normalise, parseLdd, productionPackages, type ImageEntry } from '../../../src/installer-image/entries';
import { parseArgs } from '../../../src/installer-image/main';
import { blobPath, EPOCH, type BuiltImage } from '../../../src/installer-image/oci';
import type { InstallerInputs } from '../../../src/installer-image/payload';

function write(path: string, content: string, mode = 0o644): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, content);
  chmodSync(path, mode);
}

/** A checkout with what the builder reads, a guest dir, and stand-ins for busybox, node and a library. */
function stubInputs(dir: string): InstallerInputs {
  const root = join(dir, 'checkout');
  write(join(root, 'package.json'), '{"name":"vmpod","version":"0.1.0"}');
  write(
    join(root, 'package-lock.json'),
    JSON.stringify({
      lockfileVersion: 3,
      packages: {
        '': { name: 'vmpod' },
        'node_modules/prod': { version: '1.0.0' },
        'node_modules/prod/node_modules/nested-dev': { version: '1.0.0', dev: true },
        'node_modules/devonly': { version: '1.0.0', dev: true },
        'node_modules/optional-absent': { version: '1.0.0', optional: true },
      },
    }),
  );
  write(join(root, 'node_modules/prod/index.js'), 'module.exports = 1;');
  write(join(root, 'node_modules/prod/node_modules/nested-dev/index.js'), 'dev');
  write(join(root, 'node_modules/devonly/index.js'), 'dev');
  write(join(root, 'proto/api.proto'), 'syntax = "proto3";');
  write(join(root, 'dist/src/main.js'), 'main', 0o755);
  write(join(root, 'dist/src/main.js.map'), '{}');
  write(join(root, 'dist/common/errors.js'), 'errors');
  write(join(root, 'dist/test/x.test.js'), 'test');
  write(join(root, 'native/infra/build/vmpod-infra'), 'infra', 0o755);
  write(join(root, 'native/infra/build/vmpod-mount'), 'mount', 0o755);
  write(join(root, 'native/infra/build/vmpod-jail'), 'jail', 0o755);
  write(join(root, 'native/vsock/build/Release/vsock.node'), 'addon', 0o755);
  write(join(root, 'systemd/vmpod.service'), '[Service]\n');
  write(join(root, 'deploy/installer/install.sh'), '#!/bin/sh\n', 0o755);
  const guestDir = join(dir, 'guest');
  write(join(guestDir, 'manifest.json'), JSON.stringify({ parts: { kernel: { file: 'vmlinux' }, rootfs: { file: 'rootfs.img' } } }));
  write(join(guestDir, 'vmlinux'), 'kernel');
  write(join(guestDir, 'rootfs.img'), 'rootfs');
  write(join(guestDir, 'scratch-left-over'), 'not named by the manifest');
  write(join(dir, 'busybox'), 'busybox', 0o755);
  write(join(dir, 'node'), 'node', 0o755);
  write(join(dir, 'libc.so.6'), 'libc');
  return {
    root,
    node: join(dir, 'node'),
    guestDir,
    busybox: join(dir, 'busybox'),
    applets: ['busybox', 'cp', 'sh'],
    libraries: [{ soname: '/lib/x86_64-linux-gnu/libc.so.6', path: join(dir, 'libc.so.6') }],
  };
}

interface TarItem {
  name: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  linkname: string | null;
  content: string;
}

async function readLayer(gz: Buffer): Promise<TarItem[]> {
  const items: TarItem[] = [];
  const ex = tar.extract();
  ex.on('entry', (h, stream, next) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: unknown) => void chunks.push(c as Buffer));
    stream.on('end', () => {
      items.push({
        name: h.name,
        type: h.type ?? '',
        mode: h.mode ?? 0,
        uid: h.uid ?? -1,
        gid: h.gid ?? -1,
        mtime: h.mtime?.getTime() ?? 0,
        linkname: h.linkname ?? null,
        content: Buffer.concat(chunks).toString(),
      });
      next();
    });
  });
  const done = new Promise<void>((resolve, reject) => {
    ex.on('finish', resolve);
    ex.on('error', reject);
  });
  ex.end(gunzipSync(gz));
  await done;
  return items;
}

const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

t.test('two builds of the same inputs give the same digest; a changed byte does not', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-installer-image-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const inputs = stubInputs(dir);
  const first = await buildInstallerImage(inputs, join(dir, 'out1'), 'v1', '0.1.0');
  // Another checkout of the same content: other times, other permission bits beyond x.
  utimesSync(join(inputs.root, 'dist/src/main.js'), new Date('2030-01-01'), new Date('2030-01-01'));
  chmodSync(join(inputs.root, 'dist/src/main.js'), 0o700);
  chmodSync(join(inputs.root, 'proto/api.proto'), 0o600);
  const second = await buildInstallerImage(inputs, join(dir, 'out2'), 'v1', '0.1.0');
  t.equal(second.manifest.digest, first.manifest.digest, 'same manifest digest');
  t.same(
    second.layers.map((l) => l.digest),
    first.layers.map((l) => l.digest),
    'same layer digests',
  );
  write(join(inputs.root, 'deploy/installer/install.sh'), '#!/bin/sh\n# changed\n', 0o755);
  const third = await buildInstallerImage(inputs, join(dir, 'out3'), 'v1', '0.1.0');
  t.not(third.manifest.digest, first.manifest.digest, 'a changed install.sh changes the digest');
  t.equal(third.layers[0].digest, first.layers[0].digest, 'but not the base layer');
  t.equal(third.layers[1].digest, first.layers[1].digest, 'nor the guest layer');
  t.not(third.layers[2].digest, first.layers[2].digest, 'only the vmpod layer');
});

t.test('the layout, config and layers hold what install.sh needs, and only that', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-installer-image-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const out = join(dir, 'out');
  const img: BuiltImage = await buildInstallerImage(stubInputs(dir), out, 'v1', '0.1.0');

  t.same(JSON.parse(readFileSync(join(out, 'oci-layout'), 'utf8')), { imageLayoutVersion: '1.0.0' });
  const index = JSON.parse(readFileSync(join(out, 'index.json'), 'utf8')) as { manifests: { digest: string; annotations: Record<string, string> }[] };
  t.same(
    index.manifests.map((m) => [m.digest, m.annotations['org.opencontainers.image.ref.name']]),
    [[img.manifest.digest, 'v1']],
    'index.json names the manifest by its tag',
  );
  const manifestBytes = readFileSync(blobPath(out, img.manifest.digest));
  t.equal(sha(manifestBytes), img.manifest.digest, 'every blob is named by its digest');
  const manifest = JSON.parse(manifestBytes.toString()) as { config: { digest: string }; layers: { digest: string; size: number; mediaType: string }[] };
  const config = JSON.parse(readFileSync(blobPath(out, manifest.config.digest), 'utf8')) as {
    os: string;
    architecture: string;
    created: string;
    config: { Entrypoint: string[]; Env: string[] };
    rootfs: { diff_ids: string[] };
  };
  t.match(config, { os: 'linux', architecture: 'amd64', created: EPOCH.toISOString() });
  t.same(config.config.Entrypoint, [INSTALL_SH], 'install.sh is the entrypoint');
  t.same(config.config.Env, ['PATH=/bin', 'HOST_ROOT=/host', 'PAYLOAD=/opt/vmpod-payload'], "the DaemonSet's environment");

  const layers: TarItem[][] = [];
  for (const [i, l] of manifest.layers.entries()) {
    const blob = readFileSync(blobPath(out, l.digest));
    t.equal(sha(blob), l.digest);
    t.equal(blob.length, l.size);
    t.equal(l.mediaType, 'application/vnd.oci.image.layer.v1.tar+gzip');
    t.equal(sha(gunzipSync(blob)), config.rootfs.diff_ids[i], `layer ${i}'s diff_id is its tar's digest`);
    layers.push(await readLayer(blob));
  }
  const all = layers.flat();
  t.ok(
    all.every((e) => e.uid === 0 && e.gid === 0 && e.mtime === EPOCH.getTime()),
    'every entry is root-owned with the fixed time',
  );
  const names = (l: TarItem[]): string[] => l.map((e) => e.name);
  t.same(
    names(layers[0]),
    ['bin/', 'bin/busybox', 'bin/cp', 'bin/sh', 'etc/', 'etc/group', 'etc/passwd', 'host/', 'lib/', 'lib/x86_64-linux-gnu/', 'lib/x86_64-linux-gnu/libc.so.6', 'root/', 'tmp/'],
    'base: busybox, its applets, the libraries, /host',
  );
  t.match(
    layers[0].find((e) => e.name === 'bin/sh'),
    { type: 'symlink', linkname: 'busybox' },
  );
  t.same(
    names(layers[1]),
    ['opt/', 'opt/vmpod-payload/', 'opt/vmpod-payload/guest/', 'opt/vmpod-payload/guest/manifest.json', 'opt/vmpod-payload/guest/rootfs.img', 'opt/vmpod-payload/guest/vmlinux'],
    'guest: only the parts the manifest names',
  );
  const vmpod = names(layers[2]);
  for (const want of [
    'opt/vmpod-payload/package.json',
    'opt/vmpod-payload/proto/api.proto',
    'opt/vmpod-payload/dist/src/main.js',
    'opt/vmpod-payload/dist/common/errors.js',
    'opt/vmpod-payload/node_modules/prod/index.js',
    'opt/vmpod-payload/native/infra/build/vmpod-infra',
    'opt/vmpod-payload/native/infra/build/vmpod-mount',
    'opt/vmpod-payload/native/infra/build/vmpod-jail',
    'opt/vmpod-payload/native/vsock/build/Release/vsock.node',
    'opt/vmpod-payload/bin/node',
    'opt/vmpod-payload/systemd/vmpod.service',
    'opt/vmpod-payload/installer/install.sh',
  ])
    t.ok(vmpod.includes(want), `vmpod layer has ${want}`);
  t.notOk(
    vmpod.some((n) => /devonly|nested-dev|\.map$|dist\/test/.test(n)),
    'no dev packages, source maps or tests',
  );
  const modes = Object.fromEntries(layers[2].map((e) => [e.name, e.mode]));
  t.equal(modes['opt/vmpod-payload/installer/install.sh'], 0o755, 'install.sh executable');
  t.equal(modes['opt/vmpod-payload/proto/api.proto'], 0o644);
  t.equal(layers[2].find((e) => e.name === 'opt/vmpod-payload/installer/install.sh')?.content, '#!/bin/sh\n', 'file content');
  // Each directory comes before what is in it.
  for (const l of layers) {
    const seen = new Set<string>();
    for (const e of l) {
      const parent = e.name.replace(/\/$/, '').split('/').slice(0, -1).join('/');
      if (parent) t.ok(seen.has(`${parent}/`), `${parent}/ before ${e.name}`);
      seen.add(e.name);
    }
  }
});

t.test('normalise adds parents, orders directories first and refuses clashes and escapes', async (t) => {
  const f = (path: string): ImageEntry => ({ path, kind: 'file', mode: 0o644, content: Buffer.alloc(0) });
  t.same(
    normalise([f('a/b-c'), f('a/b/c'), f('a.txt')]).map((e) => `${e.kind}:${e.path}`),
    ['dir:a', 'dir:a/b', 'file:a/b/c', 'file:a/b-c', 'file:a.txt'],
  );
  t.throws(() => normalise([f('x'), f('x')]), /two entries for x/);
  t.throws(() => normalise([f('a/../../etc/passwd')]), /not relative to the image root/);
  t.throws(() => normalise([f('/etc/passwd')]), /not relative to the image root/);
});

t.test('parseLdd: libraries and the loader, nothing for vdso or a static binary', async (t) => {
  const out = [
    '\tlinux-vdso.so.1 (0x00007ffd)',
    '\tlibstdc++.so.6 => /lib/x86_64-linux-gnu/libstdc++.so.6 (0x00007f75)',
    '\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f75)',
    '\t/lib64/ld-linux-x86-64.so.2 (0x00007f75)',
  ].join('\n');
  t.same(
    parseLdd(out).map((l) => l.path),
    ['/lib/x86_64-linux-gnu/libstdc++.so.6', '/lib/x86_64-linux-gnu/libc.so.6', '/lib64/ld-linux-x86-64.so.2'],
  );
  t.same(parseLdd('\tnot a dynamic executable'), []);
});

t.test('productionPackages: everything not marked dev, nested included', async (t) => {
  t.same(
    productionPackages(JSON.stringify({ packages: { '': {}, 'node_modules/a': {}, 'node_modules/b': { dev: true }, 'node_modules/a/node_modules/c': {}, 'node_modules/d': { devOptional: true } } })),
    ['node_modules/a', 'node_modules/a/node_modules/c', 'node_modules/d'],
  );
  t.throws(() => productionPackages('{"lockfileVersion":1,"dependencies":{}}'), /lockfileVersion 2 or 3/);
});

t.test('parseArgs', async (t) => {
  t.match(parseArgs(['--out', '/o'], '0.1.0'), { out: '/o', tag: '0.1.0', push: undefined });
  const p = parseArgs(['--out', '/o', '--tag', 'x1', '--push', 'http://127.0.0.1:5000/vmpod/installer/'], '0.1.0');
  t.ok(!('error' in p) && p.push?.registry.href === 'http://127.0.0.1:5000/' && p.push.repo === 'vmpod/installer', 'registry and repo split');
  t.match(parseArgs([], '0.1.0'), { error: '--out is required' });
  t.match(parseArgs(['--out'], '0.1.0'), { error: '--out needs a value' });
  t.match(parseArgs(['--out', '/o', '--bogus', 'x'], '0.1.0'), { error: 'unknown argument --bogus' });
  t.match(parseArgs(['--out', '/o', '--push', 'ftp://h/r'], '0.1.0'), { error: /expected http\(s\)/ });
  t.match(parseArgs(['--out', '/o', '--push', 'http://h:1'], '0.1.0'), { error: /expected http\(s\)/ });
  t.match(parseArgs(['--out', '/o', '--tag', 'a/b'], '0.1.0'), { error: /not a valid tag/ });
});
