// Builds OCI images in the test itself — layers are tar archives made with
// tar-stream around Debian's static busybox — and pushes them to a registry
// with plain distribution-API calls (monolithic blob upload, manifest PUT).

import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import * as tar from 'tar-stream';
import { httpRequest, readBody } from '../../src/image/http';
import type { RunningRegistry } from './registry';

export const BUSYBOX = '/bin/busybox';

export interface TarEntry {
  name: string;
  type?: tar.Header['type'];
  mode?: number;
  uid?: number;
  gid?: number;
  content?: Buffer | string;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  mtime?: Date;
  pax?: Record<string, string>;
}

export type Compression = 'gzip' | 'zstd' | 'none';

export type Layer =
  | {
      /** Uncompressed tar. */
      tar: Buffer;
      compression: Compression;
    }
  | {
      /** A blob compressed elsewhere (one whose tar is too large to hold, e.g. a decompression bomb), with the diff_id to declare. */
      blob: Buffer;
      diffId: string;
      compression: Compression;
    };

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface PushedImage {
  repo: string;
  manifestDigest: string;
  manifestSize: number;
  configDigest: string;
  layerDigests: string[];
  diffIds: string[];
  mediaType: string;
  platform: Platform;
}

export function sha256(b: Buffer | string): string {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}

const T0 = new Date('2024-01-02T03:04:05Z');

/** A tar archive of the given entries, in order. */
export async function makeTar(entries: TarEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    pack.on('data', (c: unknown) => void chunks.push(c as Buffer));
    pack.on('end', () => resolve());
    pack.on('error', reject);
  });
  for (const e of entries) {
    const type = e.type ?? (e.content !== undefined ? 'file' : 'directory');
    const header = {
      name: e.name,
      type,
      mode: e.mode ?? (type === 'directory' ? 0o755 : 0o644),
      uid: e.uid ?? 0,
      gid: e.gid ?? 0,
      mtime: e.mtime ?? T0,
      linkname: e.linkname,
      devmajor: e.devmajor,
      devminor: e.devminor,
      pax: e.pax,
    } as tar.Header & { pax?: Record<string, string> };
    if (type === 'file') pack.entry(header, typeof e.content === 'string' ? Buffer.from(e.content) : (e.content ?? Buffer.alloc(0)));
    else pack.entry(header);
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

let busyboxCache: Buffer | undefined;

/** The static busybox binary; a clear failure when busybox-static is missing. */
export function busyboxBinary(): Buffer {
  if (!existsSync(BUSYBOX)) throw new Error(`${BUSYBOX} is missing: install the Debian package busybox-static`);
  busyboxCache ??= readFileSync(BUSYBOX);
  return busyboxCache;
}

/** A base layer: busybox with sh/ls/cat links, /etc/passwd, /tmp. */
export function busyboxEntries(): TarEntry[] {
  return [
    { name: 'bin/' },
    { name: 'bin/busybox', content: busyboxBinary(), mode: 0o755 },
    { name: 'bin/sh', type: 'symlink', linkname: 'busybox' },
    { name: 'bin/ls', type: 'link', linkname: 'bin/busybox' },
    { name: 'bin/cat', type: 'link', linkname: 'bin/busybox' },
    { name: 'etc/' },
    { name: 'etc/passwd', content: 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' },
    { name: 'tmp/', mode: 0o1777 },
  ];
}

export function compress(tarBytes: Buffer, c: Compression): Buffer {
  if (c === 'gzip') return gzipSync(tarBytes, { level: 1 });
  if (c === 'zstd') return execFileSync('zstd', ['-q', '-c', '-1'], { input: tarBytes, maxBuffer: 1 << 30 });
  return tarBytes;
}

const LAYER_MEDIA: Record<Compression, string> = {
  gzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  zstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  none: 'application/vnd.oci.image.layer.v1.tar',
};

export class RegistryPusher {
  constructor(private readonly reg: RunningRegistry) {}

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    const h = { ...extra };
    if (this.reg.username) h.authorization = `Basic ${Buffer.from(`${this.reg.username}:${this.reg.password}`).toString('base64')}`;
    return h;
  }

  private async call(
    method: string,
    url: URL,
    body: Buffer | undefined,
    headers: Record<string, string>,
  ): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
    const res = await httpRequest({ method, url, body, headers: this.headers(headers), ca: this.reg.ca, timeoutMs: 10_000 });
    const b = await readBody(res, 1 << 20, `${method} ${url.href}`);
    return { status: res.statusCode ?? 0, headers: res.headers, body: b };
  }

  url(path: string): URL {
    return new URL(`${this.reg.scheme}://${this.reg.host}${path}`);
  }

  async pushBlob(repo: string, bytes: Buffer): Promise<string> {
    const digest = sha256(bytes);
    const head = await this.call('HEAD', this.url(`/v2/${repo}/blobs/${digest}`), undefined, {});
    if (head.status === 200) return digest;
    const start = await this.call('POST', this.url(`/v2/${repo}/blobs/uploads/`), Buffer.alloc(0), { 'content-length': '0' });
    if (start.status !== 202) throw new Error(`blob upload start: HTTP ${start.status} ${start.body.toString()}`);
    const loc = new URL(String(start.headers.location), this.url('/'));
    loc.searchParams.set('digest', digest);
    const put = await this.call('PUT', loc, bytes, { 'content-type': 'application/octet-stream', 'content-length': String(bytes.length) });
    if (put.status !== 201) throw new Error(`blob upload: HTTP ${put.status} ${put.body.toString()}`);
    return digest;
  }

  async putManifest(repo: string, reference: string, bytes: Buffer, mediaType: string): Promise<string> {
    const r = await this.call('PUT', this.url(`/v2/${repo}/manifests/${reference}`), bytes, { 'content-type': mediaType, 'content-length': String(bytes.length) });
    if (r.status !== 201) throw new Error(`manifest PUT ${repo}:${reference}: HTTP ${r.status} ${r.body.toString()}`);
    return sha256(bytes);
  }

  /** Push layers, a config and an OCI (or Docker schema 2) manifest; tag it when `tag` is given. */
  async pushImage(
    repo: string,
    tag: string | undefined,
    layers: Layer[],
    opts: { platform?: Platform; config?: Record<string, unknown>; docker?: boolean; diffIds?: string[] } = {},
  ): Promise<PushedImage> {
    const platform = opts.platform ?? { os: 'linux', architecture: 'amd64' };
    const descs = [];
    const diffIds: string[] = [];
    for (const l of layers) {
      const blob = 'blob' in l ? l.blob : compress(l.tar, l.compression);
      const digest = await this.pushBlob(repo, blob);
      diffIds.push('blob' in l ? l.diffId : sha256(l.tar));
      descs.push({ mediaType: opts.docker ? 'application/vnd.docker.image.rootfs.diff.tar.gzip' : LAYER_MEDIA[l.compression], digest, size: blob.length });
    }
    const config = Buffer.from(
      JSON.stringify({
        architecture: platform.architecture,
        os: platform.os,
        ...(platform.variant ? { variant: platform.variant } : {}),
        created: T0.toISOString(),
        config: { Env: ['PATH=/bin'], Cmd: ['/bin/sh'], ...opts.config },
        rootfs: { type: 'layers', diff_ids: opts.diffIds ?? diffIds },
        history: [],
      }),
    );
    const configDigest = await this.pushBlob(repo, config);
    const mediaType = opts.docker ? 'application/vnd.docker.distribution.manifest.v2+json' : 'application/vnd.oci.image.manifest.v1+json';
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType,
        config: { mediaType: opts.docker ? 'application/vnd.docker.container.image.v1+json' : 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
        layers: descs,
      }),
    );
    const manifestDigest = sha256(manifest);
    await this.putManifest(repo, tag ?? manifestDigest, manifest, mediaType);
    return { repo, manifestDigest, manifestSize: manifest.length, configDigest, layerDigests: descs.map((d) => d.digest), diffIds, mediaType, platform };
  }

  /** Push an OCI index (or Docker manifest list) over already pushed images. */
  async pushIndex(repo: string, tag: string, images: PushedImage[], docker = false): Promise<string> {
    const mediaType = docker ? 'application/vnd.docker.distribution.manifest.list.v2+json' : 'application/vnd.oci.image.index.v1+json';
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType,
        manifests: images.map((i) => ({ mediaType: i.mediaType, digest: i.manifestDigest, size: i.manifestSize, platform: i.platform })),
      }),
    );
    return this.putManifest(repo, tag, index, mediaType);
  }
}
