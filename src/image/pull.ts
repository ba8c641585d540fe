// Pull orchestration: resolve the reference to one platform manifest, fetch
// and verify config and layers into the content store, unpack each layer
// into its snapshot (layer i starts as soon as its blob and snapshot i-1 are
// there), and only then publish the image record. Work on the same digest or
// chain id is shared between concurrent pulls through `SharedWork`: it runs
// on its own signal, so one pull's cancel stops a download or an unpack only
// when no other pull still waits for it.

import { rm } from 'node:fs/promises';
import { DeadlineExceededError, FailedPreconditionError, InternalError, ResourceExhaustedError, UnavailableError } from '../../common/errors';
import type { Logger } from '../log';
import type { Credentials } from './auth';
import { checkBlobSize, type ContentStore, sha256, verifyBytes } from './content-store';
import { HttpTimeoutError, isTransientNetworkError, readBody } from './http';
import { parseImageConfig, type ParsedImageConfig } from './image-config';
import { hostPlatform, parseManifest, selectPlatform, type ManifestDoc } from './manifest';
import { formatReference, type ImageReference } from './reference';
import type { RegistryClient } from './registry';
import { abortReason, type SharedWork } from './shared-work';
import { chainIds, type SnapshotStore } from './snapshots';
import { UnsafeLayerError } from './layer-path';
import type { ImageLimits } from './limits';
import { DiffIdMismatchError, LayerTooLargeError, unpackLayer } from './unpack';

const MAX_CONFIG_BYTES = 8 << 20;
const PARALLEL_DOWNLOADS = 3;
const BLOB_ATTEMPTS = 3;

export interface PullDeps {
  client: RegistryClient;
  content: ContentStore;
  snapshots: SnapshotStore;
  /** Downloads and unpacks shared with concurrent pulls (keys `blob <digest>`, `snapshot <chain id>`). */
  work: SharedWork;
  log: Logger;
  /** Mark a digest or chain id a running pull still needs, so that GC leaves it alone. */
  protect: (digestOrChainId: string) => void;
  limits: ImageLimits;
}

export interface PulledImage {
  topDigest: string;
  manifestDigest: string;
  manifest: ManifestDoc;
  configDigest: string;
  config: ParsedImageConfig;
  chainIds: string[];
}

export class LayerUnpackError extends FailedPreconditionError {}

export async function pullImage(deps: PullDeps, ref: ImageReference, creds: Credentials, signal?: AbortSignal): Promise<PulledImage> {
  const name = formatReference(ref);
  const log = deps.log.child({ image: name });
  const t0 = Date.now();
  const protect = deps.protect;

  // 1. The manifest, through an index if there is one.
  const top = await deps.client.getManifest(ref, ref.digest ?? ref.tag!, creds, signal);
  const topDigest = ref.digest ?? sha256(top.bytes);
  verifyBytes(topDigest, undefined, top.bytes, `manifest of ${name}`);
  if (top.digestHeader && top.digestHeader.startsWith('sha256:') && top.digestHeader !== topDigest) {
    throw new FailedPreconditionError(`manifest of ${name}: registry says its digest is ${top.digestHeader} but the bytes hash to ${topDigest}`);
  }
  let doc = parseManifest(top.bytes, top.contentType, `manifest of ${name}`);
  protect(topDigest); // before the blob exists, so that a concurrent GC never sees it unclaimed
  await deps.content.putVerified(topDigest, undefined, top.bytes, `manifest of ${name}`);
  let manifestDigest = topDigest;
  if (doc.kind === 'index') {
    const chosen = selectPlatform(doc, hostPlatform(), `index of ${name}`);
    const m = await deps.client.getManifest(ref, chosen.digest, creds, signal);
    verifyBytes(chosen.digest, chosen.size, m.bytes, `platform manifest ${chosen.digest} of ${name}`);
    doc = parseManifest(m.bytes, m.contentType ?? chosen.mediaType, `platform manifest of ${name}`);
    if (doc.kind !== 'manifest') throw new FailedPreconditionError(`index of ${name}: entry ${chosen.digest} is another index; nested indexes are not supported`);
    manifestDigest = chosen.digest;
    protect(manifestDigest);
    await deps.content.putVerified(chosen.digest, chosen.size, m.bytes, `platform manifest of ${name}`);
  }
  const manifest = doc;
  const tManifest = Date.now();

  // 2. The config.
  const cfgDesc = manifest.config;
  protect(cfgDesc.digest);
  let cfgBytes: Buffer;
  if (await deps.content.has(cfgDesc.digest, cfgDesc.size)) {
    cfgBytes = await deps.content.read(cfgDesc.digest);
  } else {
    if (cfgDesc.size > MAX_CONFIG_BYTES) throw new FailedPreconditionError(`config of ${name} is ${cfgDesc.size} bytes, more than the ${MAX_CONFIG_BYTES}-byte limit`);
    const res = await deps.client.openBlob(ref, cfgDesc.digest, creds, signal);
    cfgBytes = await readBody(res, MAX_CONFIG_BYTES, `config of ${name}`);
    await deps.content.putVerified(cfgDesc.digest, cfgDesc.size, cfgBytes, `config of ${name}`);
  }
  const config = parseImageConfig(cfgBytes, `config of ${name}`);
  if (config.diffIds.length !== manifest.layers.length) {
    throw new FailedPreconditionError(`image ${name}: the manifest has ${manifest.layers.length} layers but the config lists ${config.diffIds.length} diff_ids`);
  }
  const chains = chainIds(config.diffIds);
  for (const l of manifest.layers) protect(l.digest);
  for (const c of chains) protect(c);

  // 3. Layers: downloads in parallel (bounded), unpacks in order as blobs arrive.
  let downloaded = 0;
  const slots = new Slots(PARALLEL_DOWNLOADS);
  // Each piece of work below runs on its own signal (`work`), given by SharedWork. This pull waits for it on
  // `waiting`, which its caller's signal aborts, and so does a failure of this pull: downloads of later layers
  // stop then too, unless another pull still waits for them.
  const waiting = new AbortController();
  const onCallerAbort = (): void => waiting.abort(abortReason(signal!));
  if (signal?.aborted) onCallerAbort();
  else signal?.addEventListener('abort', onCallerAbort, { once: true });
  const downloads = manifest.layers.map((layer, i) =>
    deps.work.run(
      `blob ${layer.digest}`,
      async (work) => {
        if (await deps.content.has(layer.digest, layer.size)) return;
        checkBlobSize(layer.size, `layer ${i} of ${name}`);
        await slots.take(work);
        try {
          const t = Date.now();
          for (let attempt = 1; ; attempt++) {
            try {
              const body = await deps.client.openBlob(ref, layer.digest, creds, work);
              let lastLog = Date.now();
              await deps.content.ingest(
                layer.digest,
                layer.size,
                body,
                `layer ${i} (${layer.digest}) of ${name}`,
                (n) => {
                  if (Date.now() - lastLog > 5000) {
                    lastLog = Date.now();
                    log.info({ layer: layer.digest, bytes: n, total: layer.size }, 'pull progress');
                  }
                },
                work,
              );
              break;
            } catch (err) {
              // Nobody waits any more (or the daemon stops): the partial file is already gone.
              if (work.aborted) throw err;
              // The connection broke mid-body: start the blob again (the partial file is already gone).
              if (isTransientNetworkError(err) && attempt < BLOB_ATTEMPTS) {
                log.info({ layer: layer.digest, attempt, err: (err as Error).message }, 'layer download interrupted, retrying');
                continue;
              }
              if (err instanceof HttpTimeoutError) throw new DeadlineExceededError(`layer ${i} (${layer.digest}) of ${name}: ${err.message}`);
              if (isTransientNetworkError(err)) throw new UnavailableError(`layer ${i} (${layer.digest}) of ${name}: download failed ${attempt} times: ${(err as Error).message}`);
              throw err;
            }
          }
          downloaded += layer.size;
          log.debug({ layer: layer.digest, bytes: layer.size, ms: Date.now() - t }, 'layer downloaded');
        } finally {
          slots.give();
        }
      },
      waiting.signal,
    ),
  );
  // Every download settles before we return, so no stray rejection outlives the pull.
  const settled = Promise.allSettled(downloads);
  let unpackMs = 0;
  /** Unpacked by this pull so far (snapshots another pull made are not counted twice). */
  let unpackedBytes = 0;
  try {
    for (let i = 0; i < manifest.layers.length; i++) {
      const layer = manifest.layers[i];
      const chainId = chains[i];
      await downloads[i];
      await deps.work.run(
        `snapshot ${chainId}`,
        async (work) => {
          if (await deps.snapshots.has(chainId)) return;
          const t = Date.now();
          const tmp = await deps.snapshots.tempDir();
          try {
            const lowers = chains
              .slice(0, i)
              .reverse()
              .map((c) => deps.snapshots.fsDir(c));
            const stats = await unpackLayer({
              blobPath: deps.content.path(layer.digest),
              target: tmp.fs,
              lowers,
              diffId: config.diffIds[i],
              mediaTypeCompression: layer.compression,
              limits: {
                entries: deps.limits.layerEntries,
                bytes: Math.min(deps.limits.layerBytes, deps.limits.imageBytes - unpackedBytes),
                freeFloorBytes: deps.limits.freeFloorBytes,
              },
              signal: work,
            });
            work.throwIfAborted();
            unpackedBytes += stats.bytes;
            await deps.snapshots.commit(tmp.dir, chainId);
            unpackMs += Date.now() - t;
            log.debug({ layer: layer.digest, chainId, ...stats, ms: Date.now() - t }, 'layer unpacked');
          } catch (err) {
            await rm(tmp.dir, { recursive: true, force: true });
            // Stopped because nobody waits any more (or the daemon stops): nothing of it is kept, and nobody reads this error.
            if (work.aborted) throw err;
            if (err instanceof LayerTooLargeError) {
              const which =
                err.kind === 'free-space'
                  ? ''
                  : deps.limits.imageBytes - unpackedBytes < deps.limits.layerBytes
                    ? `, past the image limit of ${deps.limits.imageBytes} bytes (${unpackedBytes} unpacked before this layer)`
                    : `, past the layer limit`;
              throw new ResourceExhaustedError(`layer ${i} (${layer.digest}) of ${name} was refused: ${err.message}${which}; nothing of it was kept`);
            }
            if (err instanceof UnsafeLayerError || err instanceof DiffIdMismatchError) {
              throw new LayerUnpackError(`layer ${i} (${layer.digest}) of ${name} was refused: ${err.message}; nothing of it was kept`);
            }
            if (err instanceof FailedPreconditionError) throw err;
            throw new InternalError(`unpacking layer ${i} (${layer.digest}) of ${name} failed: ${(err as Error).message}`, { cause: err });
          }
        },
        waiting.signal,
      );
    }
  } catch (err) {
    if (!waiting.signal.aborted) waiting.abort(err instanceof Error ? err : new Error(String(err)));
    throw err;
  } finally {
    signal?.removeEventListener('abort', onCallerAbort);
    await settled;
  }
  log.info({ manifestMs: tManifest - t0, layers: manifest.layers.length, downloadedBytes: downloaded, unpackMs, totalMs: Date.now() - t0 }, 'image pulled');
  return { topDigest, manifestDigest, manifest, configDigest: cfgDesc.digest, config, chainIds: chains };
}

/** A bound on the downloads one pull runs at once; a download whose work is aborted stops waiting for its turn. */
class Slots {
  private running = 0;
  private readonly queue: (() => void)[] = [];

  constructor(private readonly max: number) {}

  async take(signal: AbortSignal): Promise<void> {
    while (this.running >= this.max) {
      signal.throwIfAborted();
      await new Promise<void>((resolve, reject) => {
        const onAbort = (): void => {
          const at = this.queue.indexOf(wake);
          if (at >= 0) this.queue.splice(at, 1);
          reject(abortReason(signal));
        };
        const wake = (): void => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        };
        this.queue.push(wake);
        signal.addEventListener('abort', onAbort, { once: true });
      });
    }
    this.running++;
  }

  give(): void {
    this.running--;
    this.queue.shift()?.();
  }
}
