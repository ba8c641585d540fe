// Image records (`<root>/images/<id hex>.json`), rootfs leases
// (`<root>/leases/<container id>.json`) and image volume leases
// (`<root>/volume-leases/<container id>.json`), each written atomically. A
// record appears only after every blob and snapshot it names is in place, so
// a daemon killed mid-pull never shows a half image. A lease pins the
// snapshots a container's root filesystem is built from until it is released;
// a volume lease pins the images a container mounts as image volumes (and
// holds them against RemoveImage) and names the views to unmount. It is
// written before its view is mounted, so a crash never leaves a mount that
// no lease names.
//
// Schema versions (`schema`, as the pod and container records have): 1 is
// written today. Files written before versions existed have none and hold the
// same fields, so they decode as 1. A file of a schema this vmpod does not
// know (one a newer vmpod wrote) is set aside in corrupt/, never half-read.

import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../log';
import { writeJsonAtomic } from '../store/atomic';
import { quarantineRecord, readRecordDir } from '../store/record-dir';
import type { ImageRuntimeConfig } from './image-config';
import type { RootfsLayout } from './snapshots';

export interface ImageLayer {
  digest: string;
  size: number;
  mediaType: string;
}

export interface ImageRecord {
  /** `sha256:<config digest>`, the CRI image id. */
  readonly id: string;
  readonly repoTags: string[];
  readonly repoDigests: string[];
  /** Bytes of the config and the compressed layers, as containerd reports it. */
  readonly size: number;
  /** Top-level digest pulled: the index when there was one, else the manifest. */
  readonly topDigest: string;
  readonly manifestDigest: string;
  readonly configDigest: string;
  readonly layers: ImageLayer[];
  readonly diffIds: string[];
  readonly chainIds: string[];
  readonly os: string;
  readonly architecture: string;
  readonly created?: string;
  readonly config: ImageRuntimeConfig;
  readonly pinned: boolean;
  readonly pulledAt: string;
}

export interface RootfsLease {
  readonly containerId: string;
  readonly imageId: string;
  readonly chainIds: string[];
  readonly layout: RootfsLayout;
  /** What release deletes: the container dir we made, or only upper/work/rootfs inside a caller's targetDir. */
  readonly ownedDirs: string[];
}

/** One image volume of a container: a read-only view of `imageId` mounted at `mountpoint`. */
export interface ImageVolume {
  /** Index of the mount in the container's config.mounts. */
  readonly index: number;
  readonly imageId: string;
  readonly chainIds: string[];
  readonly mountpoint: string;
}

export interface VolumeLease {
  readonly containerId: string;
  readonly volumes: ImageVolume[];
  /** The container's dir under `<root>/volumes/`, deleted at release once every view is unmounted. */
  readonly dir: string;
}

const LEASE_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

export const IMAGE_STORE_SCHEMA = 1;

abstract class JsonDir<T> {
  protected readonly items = new Map<string, T>();
  constructor(
    readonly dir: string,
    protected readonly log: Logger,
  ) {}

  protected abstract keyOf(v: T): string;
  protected abstract valid(v: unknown): v is T;

  /** Replaces what is in memory with what is on disk. */
  load(): void {
    this.items.clear();
    readRecordDir(
      this.dir,
      (_name, raw) => {
        const v = this.decode(raw);
        this.items.set(this.keyOf(v), v);
      },
      (name, err) => quarantineRecord(this.dir, name, err, this.log, 'image store'),
    );
  }

  /** A file as any vmpod version wrote it → the record; throws when it is not one this vmpod reads. */
  private decode(raw: unknown): T {
    const { schema, ...v } = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
    if (schema !== undefined && schema !== IMAGE_STORE_SCHEMA) throw new Error(`schema ${JSON.stringify(schema)}; this vmpod reads ${IMAGE_STORE_SCHEMA}`);
    if (!this.valid(v)) throw new Error('unexpected shape');
    return v;
  }

  list(): T[] {
    return [...this.items.values()];
  }

  get(key: string): T | undefined {
    return this.items.get(key);
  }

  put(v: T): void {
    writeJsonAtomic(join(this.dir, `${this.fileKey(this.keyOf(v))}.json`), { schema: IMAGE_STORE_SCHEMA, ...v });
    this.items.set(this.keyOf(v), v);
  }

  delete(key: string): void {
    rmSync(join(this.dir, `${this.fileKey(key)}.json`), { force: true });
    this.items.delete(key);
  }

  protected fileKey(key: string): string {
    return key;
  }
}

export class ImageRecords extends JsonDir<ImageRecord> {
  protected keyOf(v: ImageRecord): string {
    return v.id;
  }
  protected valid(v: unknown): v is ImageRecord {
    const r = v as ImageRecord;
    return typeof r?.id === 'string' && Array.isArray(r.repoTags) && Array.isArray(r.chainIds) && Array.isArray(r.layers);
  }
  protected override fileKey(key: string): string {
    return key.replace(/^sha256:/, '');
  }
}

export class LeaseRecords extends JsonDir<RootfsLease> {
  protected keyOf(v: RootfsLease): string {
    return v.containerId;
  }
  protected valid(v: unknown): v is RootfsLease {
    const r = v as RootfsLease;
    return typeof r?.containerId === 'string' && LEASE_ID.test(r.containerId) && Array.isArray(r.chainIds) && Array.isArray(r.ownedDirs);
  }
}

/**
 * A new kind of file in a directory of its own (added with image volumes):
 * schema 1 like the others, whose shape did not change. A vmpod older than
 * this one does not read the directory; see docs/image-volumes.md on downgrades.
 */
export class VolumeLeaseRecords extends JsonDir<VolumeLease> {
  protected keyOf(v: VolumeLease): string {
    return v.containerId;
  }
  protected valid(v: unknown): v is VolumeLease {
    const r = v as VolumeLease;
    return (
      typeof r?.containerId === 'string' &&
      LEASE_ID.test(r.containerId) &&
      typeof r.dir === 'string' &&
      Array.isArray(r.volumes) &&
      r.volumes.every((x) => Number.isInteger(x?.index) && typeof x.imageId === 'string' && Array.isArray(x.chainIds) && typeof x.mountpoint === 'string')
    );
  }
}

export function isValidContainerId(id: string): boolean {
  return LEASE_ID.test(id);
}
