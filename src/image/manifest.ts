// Manifest documents of the OCI image spec and Docker's schema 2, checked
// into typed shapes. Everything here is pure: bytes from a registry go in,
// typed values or InvalidArgument/FailedPrecondition errors come out.

import { FailedPreconditionError } from '../../common/errors';
import { DIGEST } from './reference';

export const MediaType = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  ociLayerNondistGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerForeignGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  dockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
} as const;

/** What we ask registries for, in order of preference. */
export const MANIFEST_ACCEPT = [MediaType.ociIndex, MediaType.dockerList, MediaType.ociManifest, MediaType.dockerManifest].join(', ');

export type Compression = 'none' | 'gzip' | 'zstd';

const LAYER_TYPES: Record<string, Compression> = {
  [MediaType.ociLayer]: 'none',
  [MediaType.ociLayerGzip]: 'gzip',
  [MediaType.ociLayerZstd]: 'zstd',
  [MediaType.ociLayerNondistGzip]: 'gzip',
  [MediaType.dockerLayerGzip]: 'gzip',
  [MediaType.dockerForeignGzip]: 'gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar': 'none',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd': 'zstd',
};

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
  annotations?: Record<string, string>;
}

export interface IndexDoc {
  kind: 'index';
  mediaType: string;
  manifests: Descriptor[];
}

export interface ManifestDoc {
  kind: 'manifest';
  mediaType: string;
  config: Descriptor;
  layers: (Descriptor & { compression: Compression })[];
}

export class ManifestError extends FailedPreconditionError {}

function fail(what: string, problem: string): never {
  throw new ManifestError(`${what}: ${problem}`);
}

function descriptor(value: unknown, what: string): Descriptor {
  if (typeof value !== 'object' || value === null) fail(what, 'descriptor is not an object');
  const d = value as Record<string, unknown>;
  if (typeof d.mediaType !== 'string') fail(what, 'descriptor has no mediaType');
  if (typeof d.digest !== 'string' || !DIGEST.test(d.digest)) fail(what, `descriptor digest "${String(d.digest)}" is not a sha256 digest`);
  if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) fail(what, `descriptor size "${String(d.size)}" is not a non-negative integer`);
  const out: Descriptor = { mediaType: d.mediaType, digest: d.digest, size: d.size };
  if (typeof d.platform === 'object' && d.platform !== null) {
    const p = d.platform as Record<string, unknown>;
    if (typeof p.os === 'string' && typeof p.architecture === 'string') {
      out.platform = { os: p.os, architecture: p.architecture, variant: typeof p.variant === 'string' ? p.variant : undefined };
    }
  }
  return out;
}

/**
 * Parse a manifest or index. `contentType` is the registry's Content-Type;
 * the document's own mediaType wins when present (OCI requires it to agree).
 */
export function parseManifest(bytes: Buffer, contentType: string | undefined, what: string): IndexDoc | ManifestDoc {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
  } catch {
    return fail(what, 'manifest is not valid JSON');
  }
  if (typeof doc !== 'object' || doc === null) fail(what, 'manifest is not a JSON object');
  const ct = contentType?.split(';')[0]?.trim();
  let mediaType = typeof doc.mediaType === 'string' ? doc.mediaType : (ct ?? '');
  if (doc.schemaVersion === 1 || mediaType === MediaType.dockerSchema1 || mediaType === MediaType.dockerSchema1Signed) {
    fail(what, 'Docker image manifest schema 1 is deprecated and not supported; push the image again with a current Docker or buildah to get a schema 2 or OCI manifest');
  }
  if (doc.schemaVersion !== 2) fail(what, `unsupported schemaVersion ${String(doc.schemaVersion)}`);
  if (!mediaType || mediaType === 'application/json' || mediaType === 'application/octet-stream') {
    // OCI documents may omit mediaType; tell them apart by shape.
    mediaType = Array.isArray(doc.manifests) ? MediaType.ociIndex : MediaType.ociManifest;
  }
  if (mediaType === MediaType.ociIndex || mediaType === MediaType.dockerList) {
    if (!Array.isArray(doc.manifests)) fail(what, 'index has no manifests array');
    return { kind: 'index', mediaType, manifests: doc.manifests.map((m, i) => descriptor(m, `${what} manifests[${i}]`)) };
  }
  if (mediaType === MediaType.ociManifest || mediaType === MediaType.dockerManifest) {
    if (!Array.isArray(doc.layers)) fail(what, 'manifest has no layers array');
    const config = descriptor(doc.config, `${what} config`);
    const layers = doc.layers.map((l, i) => {
      const d = descriptor(l, `${what} layers[${i}]`);
      const compression = LAYER_TYPES[d.mediaType];
      if (compression === undefined) fail(what, `layer ${i} has unsupported media type "${d.mediaType}"`);
      return { ...d, compression };
    });
    return { kind: 'manifest', mediaType, config, layers };
  }
  return fail(what, `unsupported manifest media type "${mediaType}"`);
}

/** The platform this daemon runs containers for, in OCI terms. */
export function hostPlatform(): Platform {
  const arch: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };
  const architecture = arch[process.arch] ?? process.arch;
  return { os: 'linux', architecture, variant: architecture === 'arm64' ? 'v8' : undefined };
}

/**
 * Pick the manifest for `want` from an index, as containerd's platform
 * matcher does: os and architecture must match; an exact variant beats a
 * missing one (arm64 treats a missing variant as v8).
 */
export function selectPlatform(index: IndexDoc, want: Platform, what: string): Descriptor {
  const normVariant = (p: Platform): string | undefined => p.variant ?? (p.architecture === 'arm64' ? 'v8' : undefined);
  const candidates = index.manifests.filter((m) => m.platform && m.platform.os === want.os && m.platform.architecture === want.architecture);
  const exact = candidates.find((m) => normVariant(m.platform!) === normVariant(want));
  const chosen = exact ?? candidates.find((m) => m.platform!.variant === undefined) ?? candidates[0];
  if (!chosen) {
    const offered = index.manifests.map((m) => (m.platform ? `${m.platform.os}/${m.platform.architecture}${m.platform.variant ? `/${m.platform.variant}` : ''}` : '?')).join(', ');
    fail(what, `no manifest for platform ${want.os}/${want.architecture}; the index offers: ${offered || 'nothing'}`);
  }
  return chosen;
}
