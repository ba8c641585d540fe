// The image service: what the CRI ImageService handlers and the runtime
// (runc and VM paths) call. State lives under `<root>/image/`:
//
//   blobs/sha256/<hex>      verified content (manifests, configs, layers)
//   ingest/                 partial downloads (swept at start-up)
//   snapshots/<chain>/fs    unpacked layers; `.tmp-*` are unfinished unpacks
//   images/<id>.json        image records, written last in a pull
//   leases/<ctr>.json       snapshots pinned by a container's root filesystem
//   containers/<ctr>/       default upper/work/rootfs of a container
//   volume-leases/<ctr>.json images a container mounts as image volumes
//   volumes/<ctr>/<n>/      the read-only view of config.mounts[n]'s image
//   empty-lower/            the empty lowerdir under a one-layer image's view
//
// Removing an image deletes its record at once; its snapshots stay while a
// lease names them and go in the GC after the last `releaseRootfs`. An image
// mounted as an image volume is not removed at all until its container is
// (FAILED_PRECONDITION naming both): see docs/image-volumes.md.

import { statSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Trash } from '../host/trash';
import type { RegistryConfig } from '../config/types';
import { CancelledError, DeadlineExceededError, FailedPreconditionError, InvalidArgumentError, isVmpodError, NotFoundError, UnavailableError } from '../../common/errors';
import type { Logger } from '../log';
import { credentialsFrom, type CriAuthConfig } from './auth';
import { ContentStore } from './content-store';
import { dirUsage, type Usage } from './usage';
import { UsageCache } from './usage-cache';
import { ImageRecords, isValidContainerId, LeaseRecords, VolumeLeaseRecords, type ImageRecord } from './image-store';
import { DEFAULT_IMAGE_LIMITS, type ImageLimits } from './limits';
import { pullImage } from './pull';
import { SharedWork } from './shared-work';
import { digestReference, parseReference, tagReference } from './reference';
import { RegistryClient } from './registry';
import { isMountpoint, mountOverlay, SnapshotStore, unmount, type RootfsLayout } from './snapshots';
import { makeDirs, makeDirsSync } from '../host/make-dirs';
import { lstat, readlink } from 'node:fs/promises';
import { resolveSubPath, subPathComponents } from './sub-path';
import { mountView } from './volume-view';

export interface ImageServiceOptions {
  /** The daemon's state root; the service uses `<root>/image/`. */
  root: string;
  registries: Record<string, RegistryConfig>;
  log: Logger;
  /** Registry request inactivity timeout (default 30 s). */
  timeoutMs?: number;
  /** What one pull may unpack (default DEFAULT_IMAGE_LIMITS). */
  limits?: Partial<ImageLimits>;
  /** Told every pull's outcome (src/metrics): its duration and, when it succeeded, the image's size. */
  onPull?: (outcome: PullOutcome) => void;
}

export interface PullOutcome {
  ok: boolean;
  seconds: number;
  /** Config and compressed layer bytes of the image pulled (0 when it failed), whether or not its layers were already here. */
  bytes: number;
}

export interface ImageFsUsage extends Usage {
  mountpoint: string;
}

export class ImageService {
  readonly dir: string;
  readonly content: ContentStore;
  readonly snapshots: SnapshotStore;
  private readonly records: ImageRecords;
  private readonly leases: LeaseRecords;
  private readonly volumeLeases: VolumeLeaseRecords;
  private readonly client: RegistryClient;
  /** Downloads and unpacks shared by concurrent pulls; each stops when no pull waits for it, all at close(). */
  private readonly work = new SharedWork();
  /** Aborted by close(): a pull's manifest and config requests stop with it too. */
  private readonly closing = new AbortController();
  /** Pulls under way, for close() to wait for. */
  private readonly running = new Set<Promise<ImageRecord>>();
  /** Digest / chain id → number of running pulls that need it. */
  private readonly protect = new Map<string, number>();
  private activePulls = 0;
  private readonly log: Logger;
  private readonly snapshotUsage = new Map<string, Usage>();
  /** The sum over all snapshots, until the image trees change (snapshotsUsage). */
  private snapshotsTotal: Promise<Usage> | undefined;
  private readonly limits: ImageLimits;
  private readonly onPull: (outcome: PullOutcome) => void;
  /** Walks of trees that change (blobs, records, writable layers), cached and coalesced. */
  private readonly usage = new UsageCache();
  /** Released containers' dirs, deleted after RemoveContainer answers (host/trash.ts). */
  private readonly trash: Trash;

  constructor(opts: ImageServiceOptions) {
    this.dir = join(opts.root, 'image');
    this.log = opts.log.child({ subsystem: 'image' });
    this.content = new ContentStore(this.dir);
    this.snapshots = new SnapshotStore(this.dir);
    this.records = new ImageRecords(join(this.dir, 'images'), this.log);
    this.leases = new LeaseRecords(join(this.dir, 'leases'), this.log);
    this.volumeLeases = new VolumeLeaseRecords(join(this.dir, 'volume-leases'), this.log);
    this.client = new RegistryClient({ registries: opts.registries, log: this.log, timeoutMs: opts.timeoutMs });
    this.limits = { ...DEFAULT_IMAGE_LIMITS, ...opts.limits };
    this.onPull = opts.onPull ?? ((): void => {});
    this.trash = new Trash(join(this.dir, 'trash'), this.log);
  }

  /**
   * Start-up: load records, delete what a killed daemon left half-done
   * (partial downloads, unfinished unpacks, temp record files), then collect
   * blobs and snapshots that no image or lease names.
   */
  async start(): Promise<void> {
    await this.content.init();
    await this.snapshots.init();
    this.records.load();
    this.leases.load();
    this.volumeLeases.load();
    await makeDirs(this.emptyLower, 0o755);
    this.trash.sweep();
    const orphans = (await this.sweepContainerDirs()) + (await this.sweepVolumeDirs());
    const partial = await this.content.sweep();
    const unpacks = await this.snapshots.sweep();
    const collected = await this.gc();
    if (orphans + partial.length + unpacks.length + collected > 0) {
      this.log.info({ orphanContainerDirs: orphans, partialDownloads: partial.length, unfinishedUnpacks: unpacks.length, collected }, 'cleaned up after an interrupted run');
    }
  }

  /** Default container dirs without a lease: a kill between mkdir and the lease write. */
  private async sweepContainerDirs(): Promise<number> {
    const dir = join(this.dir, 'containers');
    const names = await readdir(dir).catch(() => [] as string[]);
    let n = 0;
    for (const name of names) {
      if (this.leases.get(name)) continue;
      const rootfs = join(dir, name, 'rootfs');
      if (await isMountpoint(rootfs)) continue; // never delete through a live mount
      await rm(join(dir, name), { recursive: true, force: true });
      n++;
    }
    return n;
  }

  /** Volume dirs without a lease (a lease is written before its dir is made: only a crash inside release leaves these). */
  private async sweepVolumeDirs(): Promise<number> {
    const dir = join(this.dir, 'volumes');
    const names = await readdir(dir).catch(() => [] as string[]);
    let n = 0;
    for (const name of names) {
      if (this.volumeLeases.get(name)) continue;
      if (await this.unmountViews(join(dir, name))) {
        await rm(join(dir, name), { recursive: true, force: true });
        n++;
      }
    }
    return n;
  }

  /** Unmount every view under a container's volume dir; false when one is still mounted (then nothing may be deleted). */
  private async unmountViews(containerDir: string): Promise<boolean> {
    const views = await readdir(containerDir).catch(() => [] as string[]);
    for (const v of views) {
      const mp = join(containerDir, v);
      await unmount(mp).catch((err: unknown) => this.log.warn({ mountpoint: mp, err: (err as Error).message }, 'unmounting an image volume view failed'));
      if (await isMountpoint(mp)) return false;
    }
    return true;
  }

  private get emptyLower(): string {
    return join(this.dir, 'empty-lower');
  }

  // ---- lookups ---------------------------------------------------------

  list(): ImageRecord[] {
    return this.records.list();
  }

  /** Find by id (`sha256:<hex>`, `<hex>` or a unique hex prefix), tag or `name@digest`. */
  find(refOrId: string): ImageRecord | undefined {
    const s = refOrId.trim();
    const idMatch = /^(?:sha256:)?([a-f0-9]{64})$/.exec(s);
    if (idMatch) {
      const byId = this.records.get(`sha256:${idMatch[1]}`);
      if (byId) return byId;
    }
    let parsed;
    try {
      parsed = parseReference(s);
    } catch {
      parsed = undefined;
    }
    if (parsed) {
      const want = parsed.digest ? digestReference(parsed, parsed.digest) : tagReference(parsed);
      const hit = this.records.list().find((r) => (parsed.digest ? r.repoDigests.includes(want!) : r.repoTags.includes(want!)));
      if (hit) return hit;
    }
    const prefix = /^(?:sha256:)?([a-f0-9]{3,63})$/.exec(s);
    if (prefix) {
      const hits = this.records.list().filter((r) => r.id.slice(7).startsWith(prefix[1]));
      if (hits.length === 1) return hits[0];
    }
    return undefined;
  }

  /** The image for a container to be created from; NotFound names the reference. */
  resolve(refOrId: string): ImageRecord {
    const r = this.find(refOrId);
    if (!r) throw new NotFoundError('image', refOrId, 'pull it first (crictl pull)');
    return r;
  }

  // ---- pull / remove -----------------------------------------------------

  /**
   * Pull an image. When `signal` aborts (the CRI client cancelled, or its
   * deadline passed) or the service closes, the pull stops at once; the
   * downloads and unpacks it started stop too unless another pull still
   * waits for them, and what they half made is removed before this returns.
   */
  pull(image: string, auth: CriAuthConfig | null | undefined, signal?: AbortSignal): Promise<ImageRecord> {
    const p = this.runPull(image, auth, signal);
    const forget = (): void => void this.running.delete(p);
    this.running.add(p);
    p.then(forget, forget);
    return p;
  }

  private async runPull(image: string, auth: CriAuthConfig | null | undefined, signal?: AbortSignal): Promise<ImageRecord> {
    const ref = parseReference(image);
    const creds = credentialsFrom(auth);
    if (this.closing.signal.aborted) throw this.closing.signal.reason;
    this.activePulls++;
    const started = process.hrtime.bigint();
    let pulledBytes = 0;
    const protectedHere = new Set<string>();
    let failed = false;
    const protect = (d: string): void => {
      if (protectedHere.has(d)) return;
      protectedHere.add(d);
      this.protect.set(d, (this.protect.get(d) ?? 0) + 1);
    };
    const stop = linkedSignal(signal, this.closing.signal);
    try {
      const pulled = await pullImage(
        { client: this.client, content: this.content, snapshots: this.snapshots, work: this.work, log: this.log, protect, limits: this.limits },
        ref,
        creds,
        stop.signal,
      ).catch((err: unknown) => {
        throw stop.signal.aborted ? stoppedError(image, stop.signal.reason) : err;
      });
      const id = pulled.configDigest;
      const tag = tagReference(ref);
      const digestRef = digestReference(ref, pulled.topDigest);
      const prev = this.records.get(id);
      const size = pulled.manifest.config.size + pulled.manifest.layers.reduce((n, l) => n + l.size, 0);
      const record: ImageRecord = {
        id,
        repoTags: uniq([...(prev?.repoTags ?? []), ...(tag ? [tag] : [])]),
        repoDigests: uniq([...(prev?.repoDigests ?? []), digestRef]),
        size,
        topDigest: pulled.topDigest,
        manifestDigest: pulled.manifestDigest,
        configDigest: pulled.configDigest,
        layers: pulled.manifest.layers.map((l) => ({ digest: l.digest, size: l.size, mediaType: l.mediaType })),
        diffIds: pulled.config.diffIds,
        chainIds: pulled.chainIds,
        os: pulled.config.os,
        architecture: pulled.config.architecture,
        created: pulled.config.created,
        config: pulled.config.config,
        pinned: prev?.pinned ?? false,
        pulledAt: new Date().toISOString(),
      };
      this.records.put(record);
      this.imageTreesChanged();
      // A tag names one image: take it from wherever it pointed before (after
      // the new record is down, so that a crash never loses the tag).
      let orphaned = false;
      for (const other of this.records.list()) {
        if (other.id === id || !tag || !other.repoTags.includes(tag)) continue;
        const left = { ...other, repoTags: other.repoTags.filter((t) => t !== tag) };
        if (left.repoTags.length === 0 && left.repoDigests.length === 0) {
          this.records.delete(other.id);
          orphaned = true;
        } else {
          this.records.put(left);
        }
      }
      if (orphaned) await this.gc();
      pulledBytes = size;
      return record;
    } catch (err) {
      failed = true;
      throw err;
    } finally {
      stop.dispose();
      // Work nobody waits for any more stops within a bounded time: let it remove what it half made before the GC looks.
      if (failed) await this.work.abandonedSettled();
      this.activePulls--;
      for (const d of protectedHere) {
        const n = (this.protect.get(d) ?? 1) - 1;
        if (n <= 0) this.protect.delete(d);
        else this.protect.set(d, n);
      }
      // A failed pull leaves nothing behind: blobs and snapshots it made that no image names go now.
      if (failed) await this.gc().catch((e: unknown) => this.log.warn({ err: (e as Error).message }, 'GC after a failed pull failed'));
      this.onPull({ ok: !failed, seconds: Number(process.hrtime.bigint() - started) / 1e9, bytes: pulledBytes });
    }
  }

  /**
   * Remove an image by id, tag or digest, with all its names (as containerd's
   * CRI does). CRI rule: removing an image that is already gone succeeds.
   */
  async remove(refOrId: string): Promise<boolean> {
    const r = this.find(refOrId);
    if (!r) return false;
    const holders = this.volumeUsersOf(r.id);
    if (holders.length > 0) {
      throw new FailedPreconditionError(
        `image ${r.id}${r.repoTags.length ? ` (${r.repoTags.join(', ')})` : ''} is mounted as an image volume by container${holders.length > 1 ? 's' : ''} ${holders.join(', ')}; remove ${holders.length > 1 ? 'those containers' : 'that container'} first`,
      );
    }
    this.records.delete(r.id);
    this.log.info({ imageId: r.id, repoTags: r.repoTags }, 'image removed');
    await this.gc();
    return true;
  }

  /**
   * Delete blobs and snapshots no image record, lease or running pull names.
   * Returns how many it deleted.
   */
  async gc(): Promise<number> {
    this.imageTreesChanged();
    const keepBlobs = new Set<string>(this.protect.keys());
    for (const r of this.records.list()) {
      for (const d of [r.topDigest, r.manifestDigest, r.configDigest, ...r.layers.map((l) => l.digest)]) keepBlobs.add(d);
    }
    const keepSnaps = this.keptSnapshots();
    let n = 0;
    for (const d of await this.content.list()) {
      if (!keepBlobs.has(d)) {
        await this.content.delete(d);
        n++;
      }
    }
    for (const c of await this.snapshots.list()) {
      if (!keepSnaps.has(c)) {
        await this.snapshots.remove(c);
        this.snapshotUsage.delete(c);
        n++;
      }
    }
    this.imageTreesChanged(); // again: a walk that ran during the deletions may have cached a half-collected state
    return n;
  }

  /** Snapshots something still holds: an image, a container's rootfs, an image volume, a pull in flight. */
  private keptSnapshots(): Set<string> {
    const keep = new Set<string>(this.protect.keys());
    for (const r of this.records.list()) for (const c of r.chainIds) keep.add(c);
    for (const l of this.leases.list()) for (const c of l.chainIds) keep.add(c);
    for (const l of this.volumeLeases.list()) for (const v of l.volumes) for (const c of v.chainIds) keep.add(c);
    return keep;
  }

  // ---- container root filesystems -----------------------------------------

  /**
   * Pin an image's snapshots for a container and lay out its writable dirs.
   * With `targetDir`, upper/work/rootfs go there (the VM path puts them in
   * the pod's 9p share); otherwise under `<root>/image/containers/<id>/`.
   * Idempotent per container id.
   */
  async prepareRootfs(containerId: string, imageRef: string, targetDir?: string): Promise<RootfsLayout> {
    if (!isValidContainerId(containerId)) throw new InvalidArgumentError('container_id', `"${containerId}" is not a valid container id`);
    const existing = this.leases.get(containerId);
    if (existing) return existing.layout;
    const image = this.resolve(imageRef);
    for (const c of image.chainIds) {
      if (!this.snapshots.hasSync(c)) throw new FailedPreconditionError(`image ${image.id}: snapshot ${c} is missing; remove the image and pull it again`);
    }
    const base = targetDir ?? join(this.dir, 'containers', containerId);
    const layout: RootfsLayout = {
      lowerdirs: [...image.chainIds].reverse().map((c) => this.snapshots.fsDir(c)),
      upper: join(base, 'upper'),
      work: join(base, 'work'),
      mountpoint: join(base, 'rootfs'),
    };
    // Never delete a caller's targetDir itself (it may be a pod's shared dir), only what we made in it.
    const ownedDirs = targetDir ? [layout.upper, layout.work, layout.mountpoint] : [base];
    try {
      // On the event loop: three mkdirs return in microseconds, where each asynchronous one queued in libuv's pool.
      makeDirsSync(layout.upper, 0o755);
      makeDirsSync(layout.work, 0o700);
      makeDirsSync(layout.mountpoint, 0o755);
      this.leases.put({ containerId, imageId: image.id, chainIds: image.chainIds, layout, ownedDirs });
    } catch (err) {
      // Without a lease nothing would ever remove what was made (a full disk
      // under the second mkdir or the lease write; found by test/fault/disk-full).
      await Promise.all(ownedDirs.map((dir) => rm(dir, { recursive: true, force: true }).catch(() => undefined)));
      throw err;
    }
    return layout;
  }

  /** Mount the overlay of a prepared layout (idempotent). */
  async mountRootfs(containerId: string): Promise<RootfsLayout> {
    const lease = this.leases.get(containerId);
    if (!lease) throw new NotFoundError('container rootfs', containerId, 'call prepareRootfs first');
    await mountOverlay(lease.layout, this.snapshots);
    return lease.layout;
  }

  /** Unmount a container's rootfs, keeping its lease and dirs (its writable layer) for releaseRootfs. Idempotent. */
  async unmountRootfs(containerId: string): Promise<void> {
    const lease = this.leases.get(containerId);
    if (lease && overlayMounted(lease.layout.mountpoint)) await unmount(lease.layout.mountpoint);
  }

  /** Unmount and delete a container's rootfs dirs and drop its lease. Idempotent. */
  async releaseRootfs(containerId: string): Promise<void> {
    const lease = this.leases.get(containerId);
    if (!lease) return;
    if (overlayMounted(lease.layout.mountpoint)) await unmount(lease.layout.mountpoint);
    // Renamed away now, deleted after the call answers (the trash's removeTree copes with whatever depth the container built).
    for (const d of lease.ownedDirs) {
      await this.trash.discard(d);
      this.usage.forget(d);
    }
    this.leases.delete(containerId);
    // A lease holds snapshots only, and only the last holder's release leaves one to collect (its image was
    // removed while the container used it). Otherwise the GC's walks of the blob and snapshot dirs, and the
    // reset of ImageFsInfo's cached total, would be for nothing on every RemoveContainer.
    const kept = this.keptSnapshots();
    if (lease.chainIds.some((c) => !kept.has(c))) await this.gc();
  }

  /** Container ids whose root filesystem or image volumes still pin this image's snapshots. */
  usersOf(imageId: string): string[] {
    const rootfs = this.leases
      .list()
      .filter((l) => l.imageId === imageId)
      .map((l) => l.containerId);
    return uniq([...rootfs, ...this.volumeUsersOf(imageId)]);
  }

  // ---- image volumes (KEP-4639) ------------------------------------------------

  /** Containers that mount this image as an image volume. */
  private volumeUsersOf(imageId: string): string[] {
    return this.volumeLeases
      .list()
      .filter((l) => l.volumes.some((v) => v.imageId === imageId))
      .map((l) => l.containerId);
  }

  /**
   * Mount a read-only view of an image for a container's config.mounts[index]
   * and return the host directory to bind: the view's root, or `subPath`
   * resolved inside it (sub-path.ts). The lease is written before the view
   * is mounted and holds the image against RemoveImage until
   * releaseVolumes(containerId). Idempotent per (container, index).
   */
  async mountVolume(containerId: string, index: number, imageRef: string, subPath: string): Promise<string> {
    if (!isValidContainerId(containerId)) throw new InvalidArgumentError('container_id', `"${containerId}" is not a valid container id`);
    const field = `config.mounts[${index}].image_sub_path`;
    subPathComponents(subPath, field);
    const image = this.resolve(imageRef);
    for (const c of image.chainIds) {
      if (!(await this.snapshots.has(c))) throw new FailedPreconditionError(`image ${image.id}: snapshot ${c} is missing; remove the image and pull it again`);
    }
    // Again after the awaits above, with nothing awaited from here to the lease write: a RemoveImage cannot slip between them.
    const held = this.resolve(image.id);
    const dir = join(this.dir, 'volumes', containerId);
    const mountpoint = join(dir, String(index));
    const lease = this.volumeLeases.get(containerId);
    if (!lease?.volumes.some((v) => v.index === index)) {
      this.volumeLeases.put({ containerId, dir, volumes: [...(lease?.volumes ?? []), { index, imageId: held.id, chainIds: held.chainIds, mountpoint }] });
    }
    await mountView(
      [...held.chainIds].reverse().map((c) => this.snapshots.fsDir(c)),
      mountpoint,
      this.emptyLower,
      this.snapshots,
    );
    return resolveSubPath(mountpoint, subPath, field, imageRef, {
      lstat: (p) =>
        lstat(p).catch((err: NodeJS.ErrnoException) => {
          if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return undefined;
          throw err;
        }),
      readlink: (p) => readlink(p),
    });
  }

  /** Unmount a container's image volume views, delete their dirs and drop its volume lease. Idempotent. */
  async releaseVolumes(containerId: string): Promise<void> {
    const lease = this.volumeLeases.get(containerId);
    if (!lease) return;
    for (const v of lease.volumes) await unmount(v.mountpoint);
    // Never delete through a live mount: a view still mounted keeps the lease, and a later release retries.
    if (!(await this.unmountViews(lease.dir))) throw new FailedPreconditionError(`container ${containerId}: an image volume view under ${lease.dir} is still mounted`);
    await rm(lease.dir, { recursive: true, force: true });
    this.volumeLeases.delete(containerId);
    await this.gc();
  }

  /** Resolves when the dirs released so far are deleted (RemovePodSandbox: nothing of the pod is left when it answers). */
  discardsDrained(): Promise<void> {
    return this.trash.drained();
  }

  /** Containers holding a root filesystem lease: start-up recovery releases those no container record knows. */
  rootfsHolders(): string[] {
    return this.leases.list().map((l) => l.containerId);
  }

  /** Containers holding image volumes: start-up recovery releases those no container record knows. */
  volumeHolders(): string[] {
    return this.volumeLeases.list().map((l) => l.containerId);
  }

  // ---- usage -----------------------------------------------------------------

  /** The image service changed its own trees: their next usage is walked anew (only what containers write may be stale). */
  private imageTreesChanged(): void {
    this.usage.forget(this.content.blobsDir);
    this.usage.forget(join(this.dir, 'images'));
    this.snapshotsTotal = undefined;
  }

  /**
   * All snapshots' usage, summed once per change of the image trees: the
   * snapshot list changes only through a pull or a GC, and both call
   * imageTreesChanged. ImageFsInfo read the snapshots dir on every call, and
   * that readdir waited in libuv's pool behind the usage walks of
   * ListContainerStats (issue 18 profile).
   */
  private snapshotsUsage(): Promise<Usage> {
    if (this.snapshotsTotal) return this.snapshotsTotal;
    const p = this.sumSnapshots();
    this.snapshotsTotal = p;
    p.catch(() => {
      if (this.snapshotsTotal === p) this.snapshotsTotal = undefined;
    });
    return p;
  }

  private async sumSnapshots(): Promise<Usage> {
    const total: Usage = { bytes: 0, inodes: 0 };
    for (const c of await this.snapshots.list()) {
      // Snapshots never change once committed: measure each once.
      let u = this.snapshotUsage.get(c);
      if (!u) {
        u = await dirUsage(join(this.snapshots.dir, c.slice(7)));
        this.snapshotUsage.set(c, u);
      }
      total.bytes += u.bytes;
      total.inodes += u.inodes;
    }
    return total;
  }

  /** A container's writable layer's usage (ContainerStats): cached and coalesced, see usage-cache.ts. */
  writableLayerUsage(upperDir: string): Promise<Usage> {
    return this.usage.get(upperDir);
  }

  /** Bytes and inodes under `<root>/image` except container dirs, and the container dirs alone (ImageFsInfo: cached walks). */
  async fsUsage(): Promise<{ images: ImageFsUsage; containers: ImageFsUsage }> {
    const total: Usage = { bytes: 0, inodes: 0 };
    const add = (u: Usage): void => {
      total.bytes += u.bytes;
      total.inodes += u.inodes;
    };
    add(await this.usage.get(this.content.blobsDir));
    add(await this.usage.get(join(this.dir, 'images')));
    add(await this.snapshotsUsage());
    const containers = await this.usage.get(join(this.dir, 'containers'));
    return { images: { ...total, mountpoint: this.dir }, containers: { ...containers, mountpoint: join(this.dir, 'containers') } };
  }

  /**
   * Daemon shutdown: running pulls stop (UNAVAILABLE: pull again once the
   * daemon is back), their downloads and unpacks are aborted, and this
   * resolves when they have removed their partial files. Idempotent.
   */
  async close(): Promise<void> {
    const reason = new UnavailableError('image pull stopped: the daemon is shutting down; pull again once it is back');
    if (!this.closing.signal.aborted) this.closing.abort(reason);
    await this.work.close(reason);
    await Promise.allSettled([...this.running]);
  }

  get pullsInProgress(): number {
    return this.activePulls;
  }
}

/**
 * A pull that stopped because its caller gave up (CRI client cancel or
 * deadline: the client has already seen CANCELLED or DEADLINE_EXCEEDED
 * (src/cri/grpc/call.ts); this is what the log and metrics see) or because the
 * daemon is closing (the reason is then an UnavailableError, passed on).
 */
function stoppedError(image: string, reason: unknown): Error {
  const message = `pull of ${image} stopped: ${reason instanceof Error ? reason.message : 'cancelled by the caller'}; what it downloaded or unpacked is removed unless another pull uses it`;
  if (reason instanceof DeadlineExceededError) return new DeadlineExceededError(message);
  if (reason instanceof CancelledError || !isVmpodError(reason)) return new CancelledError(message);
  return reason;
}

/** A signal that aborts when any of `signals` does; dispose() removes its listeners (the service's own signal lives long). */
function linkedSignal(...signals: (AbortSignal | undefined)[]): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const present = signals.filter((s): s is AbortSignal => s !== undefined);
  const onAbort = function (this: AbortSignal): void {
    controller.abort(this.reason);
  };
  for (const s of present) {
    if (s.aborted) {
      controller.abort(s.reason);
      break;
    }
    s.addEventListener('abort', onAbort, { once: true });
  }
  return { signal: controller.signal, dispose: () => present.forEach((s) => s.removeEventListener('abort', onAbort)) };
}

function uniq(a: string[]): string[] {
  return [...new Set(a)];
}

/** Build the service and run its start-up cleanup. */
export async function createImageService(opts: ImageServiceOptions): Promise<ImageService> {
  const s = new ImageService(opts);
  await s.start();
  return s;
}

/**
 * Whether a container's overlay is mounted on `mountpoint`: the kernel gives
 * every overlay mount an anonymous device of its own, so it differs from its
 * parent dir's. Two stats instead of reading /proc/self/mountinfo (every
 * mount of the host) on each removal; a missing dir is not mounted.
 */
function overlayMounted(mountpoint: string): boolean {
  try {
    return statSync(mountpoint).dev !== statSync(dirname(mountpoint)).dev;
  } catch {
    return false;
  }
}
