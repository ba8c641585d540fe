// Writes an OCI image layout (https://github.com/opencontainers/image-spec,
// image-layout.md): each layer a gzip'd tar streamed from its entries into
// blobs/sha256/, hashed on the way (the blob's digest and the tar's diff_id),
// then the config, the manifest and index.json naming it by tag. Nothing in
// the output depends on when or where it was built: tar headers carry a fixed
// mtime, uid and gid 0 and no user names, entries come sorted, and the config
// has a fixed creation time. Two builds of the same inputs give the same
// manifest digest.

import { createHash, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream, mkdirSync, renameSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import * as tar from 'tar-stream';
import { normalise, type ImageEntry } from './entries';

/** Every entry's mtime, and the config's `created`: fixed, for reproducible digests. */
export const EPOCH = new Date('2000-01-01T00:00:00Z');
/** gzip level: 1 is about 2.5 times faster than the default (6) on the guest image and node, and its output only ~10% larger. */
export const GZIP_LEVEL = 1;

export const MEDIA = {
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  index: 'application/vnd.oci.image.index.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar+gzip',
} as const;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}

export interface BuiltImage {
  /** The layout directory. */
  dir: string;
  manifest: Descriptor;
  config: Descriptor;
  layers: (Descriptor & { diffId: string })[];
}

export interface ImageConfig {
  entrypoint?: string[];
  cmd?: string[];
  env?: string[];
  labels?: Record<string, string>;
}

/** A pass-through stream that hashes what goes by and counts it. */
class Hasher extends Transform {
  readonly hash: Hash = createHash('sha256');
  bytes = 0;
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    cb(null, chunk);
  }
}

export function blobPath(dir: string, digest: string): string {
  return join(dir, 'blobs', 'sha256', digest.replace(/^sha256:/, ''));
}

async function packEntries(pack: tar.Pack, entries: readonly ImageEntry[]): Promise<void> {
  for (const e of normalise(entries)) {
    const common = { name: e.path, mtime: EPOCH, uid: 0, gid: 0, uname: '', gname: '' };
    if (e.kind === 'dir') {
      await entry(pack, { ...common, name: `${e.path}/`, type: 'directory', mode: e.mode });
    } else if (e.kind === 'symlink') {
      await entry(pack, { ...common, type: 'symlink', linkname: e.target, mode: 0o777 });
    } else if ('content' in e) {
      await entry(pack, { ...common, type: 'file', mode: e.mode, size: e.content.length }, e.content);
    } else {
      const { size } = await stat(e.source);
      await new Promise<void>((resolve, reject) => {
        const sink = pack.entry({ ...common, type: 'file', mode: e.mode, size }, (err) => (err ? reject(err) : resolve()));
        pipeline(createReadStream(e.source), sink).catch(reject);
      });
    }
  }
  pack.finalize();
}

function entry(pack: tar.Pack, header: Partial<tar.Header>, content?: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    pack.entry(header as tar.Header, content ?? '', (err) => (err ? reject(err) : resolve()));
  });
}

/** Stream one layer into the layout's blobs: its descriptor and diff_id. */
export async function writeLayer(dir: string, entries: readonly ImageEntry[]): Promise<Descriptor & { diffId: string }> {
  const blobs = join(dir, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const tmp = join(blobs, `.layer-${process.pid}-${Date.now()}`);
  const pack = tar.pack();
  const tarHash = new Hasher();
  const gzHash = new Hasher();
  try {
    await Promise.all([packEntries(pack, entries), pipeline(pack, tarHash, createGzip({ level: GZIP_LEVEL }), gzHash, createWriteStream(tmp))]);
    const digest = `sha256:${gzHash.hash.digest('hex')}`;
    renameSync(tmp, blobPath(dir, digest));
    return { mediaType: MEDIA.layer, digest, size: gzHash.bytes, diffId: `sha256:${tarHash.hash.digest('hex')}` };
  } finally {
    rmSync(tmp, { force: true });
  }
}

function writeJsonBlob(dir: string, mediaType: string, value: unknown): Descriptor {
  const bytes = Buffer.from(JSON.stringify(value));
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  const path = blobPath(dir, digest);
  if (!existsSync(path)) writeFileSync(path, bytes);
  return { mediaType, digest, size: bytes.length };
}

/**
 * Write an OCI image layout at `dir` (created; blobs already there are kept):
 * the layers in order, a linux/amd64 config and a manifest, tagged `tag` in
 * index.json.
 */
export async function writeImageLayout(dir: string, layers: readonly (readonly ImageEntry[])[], config: ImageConfig, tag: string): Promise<BuiltImage> {
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  const written = [];
  for (const l of layers) written.push(await writeLayer(dir, l));
  const cfg = writeJsonBlob(dir, MEDIA.config, {
    architecture: 'amd64',
    os: 'linux',
    created: EPOCH.toISOString(),
    config: {
      Env: config.env ?? ['PATH=/bin'],
      ...(config.entrypoint ? { Entrypoint: config.entrypoint } : {}),
      ...(config.cmd ? { Cmd: config.cmd } : {}),
      ...(config.labels ? { Labels: config.labels } : {}),
    },
    rootfs: { type: 'layers', diff_ids: written.map((l) => l.diffId) },
    history: written.map(() => ({ created: EPOCH.toISOString(), created_by: 'vmpod scripts/build-installer-image' })),
  });
  const manifest = writeJsonBlob(dir, MEDIA.manifest, {
    schemaVersion: 2,
    mediaType: MEDIA.manifest,
    config: cfg,
    layers: written.map(({ mediaType, digest, size }) => ({ mediaType, digest, size })),
  });
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: MEDIA.index, manifests: [{ ...manifest, annotations: { 'org.opencontainers.image.ref.name': tag } }] }));
  return { dir, manifest, config: cfg, layers: written };
}
