// Packs a disk file as a KubeVirt containerDisk and pushes it to a registry
// with plain distribution-API calls: an OCI image with one uncompressed layer
// holding `disk/<name>.qcow2` (or `.img` for a raw disk), owned 107:107 with
// mode 0440 as KubeVirt's images are (`ADD --chown=107:107 ... /disk/`): the
// runtime must cope with a disk its QEMU uid cannot read by path.
//
// The disk is hundreds of MiB, so nothing holds it whole: the tar stream is
// hashed and sent as it is made, in chunked PATCH uploads of a few MiB, and
// the digest is known only for the closing PUT. Uncompressed, so the layer's
// digest is its diff_id and nothing is gzipped in the test (the qcow2's
// clusters are compressed already).

import { createHash } from 'node:crypto';
import { createReadStream, openSync, readSync, closeSync, fstatSync } from 'node:fs';
import { basename } from 'node:path';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar-stream';
import { httpRequest, readBody } from '../../src/image/http';
import type { RunningRegistry } from './registry';

/** The uid and gid KubeVirt's containerDisks give the disk (qemu in its launcher). */
export const CONTAINER_DISK_OWNER = 107;
export const CONTAINER_DISK_FILE_MODE = 0o440;
export const CONTAINER_DISK_DIR_MODE = 0o755;
/** Fixed times: the same disk gives the same layer and config digests. */
const EPOCH = new Date('2024-01-02T03:04:05Z');
const CHUNK_BYTES = 8 << 20;

const MEDIA = {
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar',
} as const;

export type DiskFormat = 'qcow2' | 'raw';

/** The registry to push to: a RunningRegistry, or just its address for one reached from another netns. */
export type ContainerDiskRegistry = Pick<RunningRegistry, 'host' | 'scheme'> & Partial<Pick<RunningRegistry, 'ca' | 'username' | 'password'>>;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}

/** qcow2 by its magic ("QFI\xfb"), anything else is a raw disk. */
export function diskFormat(head: Buffer): DiskFormat {
  return head.length >= 4 && head.readUInt32BE(0) === 0x514649fb ? 'qcow2' : 'raw';
}

/**
 * The layer path of a disk: `disk/<name>.qcow2` or `disk/<name>.img`, where
 * <name> is the file's name without its extension, reduced to characters
 * that need no quoting anywhere (a path from a test is not a file name policy).
 */
export function diskEntryName(file: string, format: DiskFormat): string {
  const stem = basename(file)
    .replace(/\.[^.]*$/, '')
    .replace(/[^A-Za-z0-9._-]/g, '_')
    .replace(/^[.]+/, '');
  return `disk/${stem || 'disk'}.${format === 'qcow2' ? 'qcow2' : 'img'}`;
}

/** A tar header as tar-stream's pack takes it (name required, the rest defaulted). */
export type LayerHeader = Partial<tar.Header> & Pick<tar.Header, 'name'>;

/** The two tar headers of the layer: the `disk/` directory and the disk file. */
export function containerDiskHeaders(entryName: string, size: number): [LayerHeader, LayerHeader] {
  const owner = { uid: CONTAINER_DISK_OWNER, gid: CONTAINER_DISK_OWNER, mtime: EPOCH };
  return [
    { name: 'disk/', type: 'directory', mode: CONTAINER_DISK_DIR_MODE, ...owner },
    { name: entryName, type: 'file', size, mode: CONTAINER_DISK_FILE_MODE, ...owner },
  ];
}

/** The image config: no command (nothing runs from a containerDisk), one layer whose diff_id is its digest. */
export function containerDiskConfig(layerDigest: string): Buffer {
  return Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      created: EPOCH.toISOString(),
      config: {},
      rootfs: { type: 'layers', diff_ids: [layerDigest] },
      history: [{ created: EPOCH.toISOString(), created_by: 'vmpod test: containerDisk' }],
    }),
  );
}

export function containerDiskManifest(config: Descriptor, layer: Descriptor): Buffer {
  return Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA.manifest, config, layers: [layer] }));
}

/** Reads the first bytes of a file (its magic) and its size. */
function probe(file: string): { head: Buffer; size: number } {
  const fd = openSync(file, 'r');
  try {
    const head = Buffer.alloc(4);
    const n = readSync(fd, head, 0, 4, 0);
    return { head: head.subarray(0, n), size: fstatSync(fd).size };
  } finally {
    closeSync(fd);
  }
}

/**
 * The uncompressed layer as a stream of tar bytes, read from the disk file as
 * it is consumed. `close` ends both streams (and with them the file
 * descriptor) when the upload stops early.
 */
function layerStream(file: string, entryName: string, size: number): { tar: AsyncIterable<Buffer>; close(): void } {
  const pack = tar.pack();
  const source = createReadStream(file);
  const [dir, disk] = containerDiskHeaders(entryName, size);
  pack.entry(dir);
  const sink = pack.entry(disk, (err) => {
    if (err) pack.destroy(err);
    else pack.finalize();
  });
  pipeline(source, sink).catch((err: unknown) => pack.destroy(err as Error));
  return {
    tar: pack as AsyncIterable<Buffer>,
    close: () => {
      source.destroy();
      pack.destroy();
    },
  };
}

class BlobUploader {
  constructor(
    private readonly reg: ContainerDiskRegistry,
    private readonly repo: string,
  ) {}

  url(path: string): URL {
    return new URL(`${this.reg.scheme}://${this.reg.host}${path}`);
  }

  async call(method: string, url: URL, body: Buffer, headers: Record<string, string> = {}): Promise<{ status: number; location?: string; text: string }> {
    const h: Record<string, string> = { 'content-length': String(body.length), ...headers };
    if (this.reg.username) h.authorization = `Basic ${Buffer.from(`${this.reg.username}:${this.reg.password ?? ''}`).toString('base64')}`;
    const res = await httpRequest({ method, url, body, headers: h, ca: this.reg.ca, timeoutMs: 60_000 });
    const text = (await readBody(res, 1 << 20, `${method} ${url.href}`)).toString();
    const loc = res.headers.location;
    return { status: res.statusCode ?? 0, location: loc ? new URL(loc, url).href : undefined, text };
  }

  /** Uploads a blob given as a stream of chunks; returns its descriptor. */
  async upload(mediaType: string, chunks: AsyncIterable<Buffer>): Promise<Descriptor> {
    const start = await this.call('POST', this.url(`/v2/${this.repo}/blobs/uploads/`), Buffer.alloc(0));
    if (start.status !== 202 || !start.location) throw new Error(`blob upload to ${this.reg.host}/${this.repo}: POST answered HTTP ${start.status} ${start.text}`);
    let location = start.location;
    const hash = createHash('sha256');
    let size = 0;
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    const flush = async (): Promise<void> => {
      if (pendingBytes === 0) return;
      const body = Buffer.concat(pending, pendingBytes);
      pending = [];
      pendingBytes = 0;
      const r = await this.call('PATCH', new URL(location), body, {
        'content-type': 'application/octet-stream',
        'content-range': `${size - body.length}-${size - 1}`,
      });
      if (r.status !== 202 || !r.location) throw new Error(`blob upload to ${this.reg.host}/${this.repo}: PATCH at byte ${size - body.length} answered HTTP ${r.status} ${r.text}`);
      location = r.location;
    };
    for await (const c of chunks) {
      hash.update(c);
      size += c.length;
      pending.push(c);
      pendingBytes += c.length;
      if (pendingBytes >= CHUNK_BYTES) await flush();
    }
    await flush();
    const digest = `sha256:${hash.digest('hex')}`;
    const done = new URL(location);
    done.searchParams.set('digest', digest);
    const put = await this.call('PUT', done, Buffer.alloc(0), { 'content-type': 'application/octet-stream' });
    if (put.status !== 201) throw new Error(`blob upload to ${this.reg.host}/${this.repo}: closing PUT of ${digest} answered HTTP ${put.status} ${put.text}`);
    return { mediaType, digest, size };
  }
}

async function* once(b: Buffer): AsyncIterable<Buffer> {
  yield b;
}

/**
 * Pushes `diskFile` as a containerDisk to `<registry>/<repo>:<tag>` and
 * returns that reference (what `crictl pull` takes).
 */
export async function pushContainerDisk(reg: ContainerDiskRegistry, repo: string, tag: string, diskFile: string): Promise<string> {
  const { head, size } = probe(diskFile);
  const entryName = diskEntryName(diskFile, diskFormat(head));
  const up = new BlobUploader(reg, repo);
  const stream = layerStream(diskFile, entryName, size);
  let layer: Descriptor;
  try {
    layer = await up.upload(MEDIA.layer, stream.tar);
  } finally {
    stream.close();
  }
  const config = containerDiskConfig(layer.digest);
  const configDesc = await up.upload(MEDIA.config, once(config));
  const manifest = containerDiskManifest(configDesc, layer);
  const put = await up.call('PUT', up.url(`/v2/${repo}/manifests/${tag}`), manifest, { 'content-type': MEDIA.manifest });
  if (put.status !== 201) throw new Error(`manifest PUT ${reg.host}/${repo}:${tag}: HTTP ${put.status} ${put.text}`);
  return `${reg.host}/${repo}:${tag}`;
}
