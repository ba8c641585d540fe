// The containerDisk packer of the VM-image tests: the layer's names, owner
// and modes are KubeVirt's, the format comes from the disk's magic, and a disk
// larger than one upload chunk arrives whole (chunked PATCHes in order, the
// digest checked by the registry double below as distribution checks it).

import t from 'tap';
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { mkdtempSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import { CONTAINER_DISK_OWNER, containerDiskConfig, containerDiskHeaders, containerDiskManifest, diskEntryName, diskFormat, pushContainerDisk } from '../../helpers/container-disk';

const QCOW2_MAGIC = Buffer.from([0x51, 0x46, 0x49, 0xfb, 0, 0, 0, 3]);

t.test('the format comes from the magic, not the file name', async (t) => {
  const cases: [string, Buffer, string][] = [
    ['qcow2 magic', QCOW2_MAGIC, 'qcow2'],
    ['an MBR disk', Buffer.from([0xeb, 0x63, 0x90, 0x00]), 'raw'],
    ['a file shorter than the magic', Buffer.from([0x51, 0x46]), 'raw'],
    ['an empty file', Buffer.alloc(0), 'raw'],
  ];
  for (const [what, head, want] of cases) t.equal(diskFormat(head), want, what);
});

t.test('the layer path is disk/<stem>.<format>', async (t) => {
  const cases: [string, string, 'qcow2' | 'raw', string][] = [
    ['a qcow2 keeps its stem', '/var/cache/x/disk.qcow2', 'qcow2', 'disk/disk.qcow2'],
    ['a raw disk is .img whatever its extension', '/tmp/fedora.raw', 'raw', 'disk/fedora.img'],
    ['a qcow2 named .img says qcow2', '/tmp/cloud.img', 'qcow2', 'disk/cloud.qcow2'],
    ['odd characters become _', '/tmp/my disk$(x).qcow2', 'qcow2', 'disk/my_disk__x_.qcow2'],
    ['no leading dot (no hidden file)', '/tmp/..qcow2', 'qcow2', 'disk/disk.qcow2'],
  ];
  for (const [what, file, format, want] of cases) t.equal(diskEntryName(file, format), want, what);
});

t.test('the entries are owned 107:107, the disk 0440 (KubeVirt)', async (t) => {
  const [dir, disk] = containerDiskHeaders('disk/d.qcow2', 1234);
  t.match(dir, { name: 'disk/', type: 'directory', uid: 107, gid: 107, mode: 0o755 });
  t.match(disk, { name: 'disk/d.qcow2', type: 'file', size: 1234, uid: 107, gid: 107, mode: 0o440 });
  t.equal(CONTAINER_DISK_OWNER, 107);
});

t.test('config and manifest name the one layer', async (t) => {
  const layer = { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: `sha256:${'a'.repeat(64)}`, size: 10 };
  const config = JSON.parse(containerDiskConfig(layer.digest).toString()) as { rootfs: { diff_ids: string[] }; os: string; architecture: string };
  t.same(config.rootfs.diff_ids, [layer.digest], 'an uncompressed layer: diff_id = digest');
  t.equal(config.os, 'linux');
  t.equal(config.architecture, 'amd64');
  t.same(containerDiskConfig(layer.digest), containerDiskConfig(layer.digest), 'the config is the same every time (fixed times)');
  const cfg = { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${'b'.repeat(64)}`, size: 5 };
  const m = JSON.parse(containerDiskManifest(cfg, layer).toString()) as Record<string, unknown>;
  t.same(m, { schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: cfg, layers: [layer] });
});

/** A registry double: monolithic or chunked blob uploads (Content-Range checked), the digest verified on PUT, manifests by tag. */
function registryDouble(): { blobs: Map<string, Buffer>; manifests: Map<string, { type: string; body: Buffer }>; patches: number[]; start(): Promise<string>; stop(): Promise<void> } {
  const blobs = new Map<string, Buffer>();
  const manifests = new Map<string, { type: string; body: Buffer }>();
  const uploads = new Map<string, Buffer[]>();
  const patches: number[] = [];
  let seq = 0;
  const read = async (req: IncomingMessage): Promise<Buffer> => {
    const parts: Buffer[] = [];
    for await (const c of req) parts.push(c as Buffer);
    return Buffer.concat(parts);
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://x');
      const body = await read(req);
      let m: RegExpExecArray | null;
      if (req.method === 'POST' && /^\/v2\/.+\/blobs\/uploads\/$/.test(url.pathname)) {
        const id = `u${++seq}`;
        uploads.set(id, []);
        res.writeHead(202, { location: `${url.pathname}${id}?_state=0` }).end();
      } else if ((m = /^\/v2\/.+\/blobs\/uploads\/(u\d+)$/.exec(url.pathname)) && (req.method === 'PATCH' || req.method === 'PUT')) {
        const parts = uploads.get(m[1]);
        if (!parts) return void res.writeHead(404).end('unknown upload');
        const have = parts.reduce((n, p) => n + p.length, 0);
        if (url.searchParams.get('_state') !== String(have)) return void res.writeHead(400).end('stale upload location');
        if (req.method === 'PATCH') {
          const range = /^(\d+)-(\d+)$/.exec(String(req.headers['content-range']));
          if (!range || Number(range[1]) !== have || Number(range[2]) !== have + body.length - 1) return void res.writeHead(416).end('bad range');
          parts.push(body);
          patches.push(body.length);
          return void res.writeHead(202, { location: `${url.pathname}?_state=${have + body.length}` }).end();
        }
        parts.push(body);
        const blob = Buffer.concat(parts);
        const digest = `sha256:${createHash('sha256').update(blob).digest('hex')}`;
        if (url.searchParams.get('digest') !== digest) return void res.writeHead(400).end('DIGEST_INVALID');
        blobs.set(digest, blob);
        uploads.delete(m[1]);
        res.writeHead(201).end();
      } else if (req.method === 'PUT' && (m = /^\/v2\/.+\/manifests\/(.+)$/.exec(url.pathname))) {
        manifests.set(m[1], { type: String(req.headers['content-type']), body });
        res.writeHead(201).end();
      } else res.writeHead(404).end();
    })();
  });
  return {
    blobs,
    manifests,
    patches,
    start: () =>
      new Promise((resolve) => {
        server.listen(0, '127.0.0.1', () => resolve(`127.0.0.1:${(server.address() as { port: number }).port}`));
      }),
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

async function untar(b: Buffer): Promise<{ header: tar.Header; data: Buffer }[]> {
  const ex = tar.extract();
  const out: { header: tar.Header; data: Buffer }[] = [];
  Readable.from([b]).pipe(ex);
  for await (const entry of ex) {
    const parts: Buffer[] = [];
    for await (const c of entry) parts.push(c as Buffer);
    out.push({ header: entry.header, data: Buffer.concat(parts) });
  }
  return out;
}

t.test('a disk larger than one chunk is pushed whole as a containerDisk', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-cdisk-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // 20 MiB + a bit: three PATCHes of the 8 MiB chunk size, not aligned to it.
  const disk = Buffer.alloc(20 * 1024 * 1024 + 777);
  QCOW2_MAGIC.copy(disk);
  for (let i = 8; i < disk.length; i += 4096) disk[i] = i % 251;
  const file = join(dir, 'test image.qcow2');
  writeFileSync(file, disk);
  const reg = registryDouble();
  const host = await reg.start();
  t.teardown(() => reg.stop());

  const ref = await pushContainerDisk({ host, scheme: 'http' }, 'vmpod/disk', 'v1', file);
  t.equal(ref, `${host}/vmpod/disk:v1`, 'the reference to pull');
  t.ok(reg.patches.length >= 3, `the layer went in several PATCHes (${reg.patches.join(', ')})`);
  const manifest = reg.manifests.get('v1');
  t.ok(manifest, 'the manifest is tagged v1');
  if (!manifest) return;
  t.equal(manifest.type, 'application/vnd.oci.image.manifest.v1+json');
  const m = JSON.parse(manifest.body.toString()) as { config: { digest: string; size: number }; layers: { digest: string; size: number; mediaType: string }[] };
  t.equal(m.layers.length, 1, 'one layer');
  const layer = reg.blobs.get(m.layers[0].digest);
  t.ok(layer, 'the layer blob is stored under the digest the manifest names');
  if (!layer) return;
  t.equal(layer.length, m.layers[0].size, 'the declared layer size is its size');
  t.equal(m.layers[0].mediaType, 'application/vnd.oci.image.layer.v1.tar');
  const config = JSON.parse(reg.blobs.get(m.config.digest)?.toString() ?? '{}') as { rootfs?: { diff_ids: string[] } };
  t.same(config.rootfs?.diff_ids, [m.layers[0].digest], 'the config declares the layer');
  const entries = await untar(layer);
  t.same(
    entries.map((e) => [e.header.name, e.header.type, e.header.uid, e.header.gid, e.header.mode]),
    [
      ['disk/', 'directory', 107, 107, 0o755],
      ['disk/test_image.qcow2', 'file', 107, 107, 0o440],
    ],
    'disk/ and the disk, owned 107:107',
  );
  t.ok(entries[1]?.data.equals(disk), 'the disk in the layer is the file, byte for byte');
});

t.test('a registry error names the registry, the repository and the step', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-cdisk-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'd.img');
  writeFileSync(file, Buffer.alloc(4096));
  const server = createServer((req, res) => void res.writeHead(403).end('denied'));
  const host = await new Promise<string>((resolve) => server.listen(0, '127.0.0.1', () => resolve(`127.0.0.1:${(server.address() as { port: number }).port}`)));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  await t.rejects(pushContainerDisk({ host, scheme: 'http' }, 'vmpod/disk', 'v1', file), { message: new RegExp(`${host}/vmpod/disk: POST answered HTTP 403 denied`) });
});

t.test('a registry failing mid-upload fails the push and leaves the disk file closed', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-cdisk-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'big.qcow2');
  writeFileSync(file, Buffer.alloc(24 * 1024 * 1024));
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.method === 'POST') res.writeHead(202, { location: '/v2/vmpod/disk/blobs/uploads/u1' }).end();
      else res.writeHead(500).end('disk full');
    });
  });
  const host = await new Promise<string>((resolve) => server.listen(0, '127.0.0.1', () => resolve(`127.0.0.1:${(server.address() as { port: number }).port}`)));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  await t.rejects(pushContainerDisk({ host, scheme: 'http' }, 'vmpod/disk', 'v1', file), { message: /PATCH at byte 0 answered HTTP 500 disk full/ });
  await new Promise((r) => setTimeout(r, 50));
  const open = readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === file;
    } catch {
      return false;
    }
  });
  t.same(open, [], 'no descriptor of the disk file is left open');
});
