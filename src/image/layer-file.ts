// A file of an image, found in its read-only layer snapshots on the host
// rather than through a container's merged root filesystem, whose upper dir a
// container (and, in a VM pod, the guest through its share) can write. The
// lookup is overlayfs's own, top layer first, component by component:
//
// * a non-directory in a layer hides everything below it at that name;
// * a directory merges with the directories below it, down to the first
//   opaque one (`trusted.overlay.opaque=y`, which the unpacker writes, or an
//   OCI `.wh..wh..opq` marker) or the first layer with a non-directory there;
// * a whiteout (char device 0/0, or an OCI `.wh.<name>` marker) hides the
//   name in the layers below it, not in its own (OCI image-spec layer.md);
// * a symlink resolves inside the image (absolute targets start at the image
//   root, `..` stops there), as resolveInRoot in layer-path.ts does.
//
// Nothing on the host is followed: every step is an lstat inside one layer.

import { execFile } from 'node:child_process';
import type { Stats } from 'node:fs';
import { lstat, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { InternalError } from '../../common/errors';
import { OPAQUE_MARKER, WHITEOUT_PREFIX } from './layer-path';
import { readRegularFile, SAFE_READ_MAX_BYTES, type SafeRead } from '../host/safe-read';

const MAX_LINKS = 40;

/** Whether a directory of a layer is opaque by xattr. Injected by tests. */
export type OpaqueProbe = (dir: string) => Promise<boolean>;

/** What one layer holds at a name, as far as the merge needs it. */
export interface LayerSlot {
  layer: string;
  /** lstat of `<dir>/<name>`, undefined if absent. */
  stat: Stats | undefined;
  /** `<dir>/.wh.<name>` exists. */
  ociWhiteout: boolean;
}

export type MergedEntry = { kind: 'dir'; layers: string[] } | { kind: 'symlink'; layer: string } | { kind: 'file'; layer: string } | { kind: 'absent' };

/**
 * The merge of one name across the layers (top first) whose parent
 * directories make up the merged parent. `opaque(layer)` says whether that
 * layer's directory at the name is opaque; asked only of directories.
 */
export async function mergeSlots(slots: LayerSlot[], opaque: (layer: string) => Promise<boolean>): Promise<MergedEntry> {
  const dirs: string[] = [];
  for (const [i, s] of slots.entries()) {
    const st = s.stat;
    if (st && !isWhiteout(st)) {
      if (!st.isDirectory()) {
        // Below a directory a non-directory ends the merge; on top it is the entry.
        if (dirs.length > 0) break;
        return st.isSymbolicLink() ? { kind: 'symlink', layer: s.layer } : { kind: 'file', layer: s.layer };
      }
      dirs.push(s.layer);
      // Opacity matters only with layers below (and costs a getfattr).
      if (i < slots.length - 1 && (await opaque(s.layer))) break;
    } else if (st && dirs.length === 0) {
      return { kind: 'absent' };
    } else if (st) {
      break;
    }
    if (s.ociWhiteout) break;
  }
  return dirs.length > 0 ? { kind: 'dir', layers: dirs } : { kind: 'absent' };
}

export interface LayerFile {
  /** The layer (snapshot `fs` dir) that holds the file. */
  layer: string;
  /** The file's path on the host, inside that layer. */
  hostPath: string;
}

/** Where `path` of the image made of `layers` (top first) is a non-directory, null if absent or a directory. */
export async function resolveLayerFile(layers: readonly string[], path: string, probe: OpaqueProbe = opaqueByXattr): Promise<LayerFile | null> {
  let parts = components(path);
  const done: string[] = [];
  // merged[i]: the layers whose directory at done[0..i) make up that merged directory.
  const merged: string[][] = [[...layers]];
  let links = 0;
  while (parts.length > 0) {
    const part = parts.shift()!;
    if (part === '..') {
      if (done.length > 0) {
        done.pop();
        merged.pop();
      }
      continue;
    }
    const slots = await Promise.all(merged[merged.length - 1].map((layer) => slotOf(layer, done, part)));
    // Each getfattr is a process: the directories that may be asked about are asked at once.
    const asked = slots.slice(0, -1).filter((sl) => sl.stat?.isDirectory());
    const opaque = new Map(await Promise.all(asked.map(async (sl) => [sl.layer, await isOpaqueDir(join(sl.layer, ...done, part), probe)] as const)));
    const entry = await mergeSlots(slots, async (layer) => opaque.get(layer) ?? false);
    switch (entry.kind) {
      case 'absent':
        return null;
      case 'dir':
        done.push(part);
        merged.push(entry.layers);
        continue;
      case 'symlink': {
        if (++links > MAX_LINKS) return null;
        const target = await readlink(join(entry.layer, ...done, part));
        if (target.startsWith('/')) {
          done.length = 0;
          merged.length = 1;
        }
        parts = [...components(target), ...parts];
        continue;
      }
      case 'file':
        // `file/more` is ENOTDIR.
        if (parts.length > 0) return null;
        return { layer: entry.layer, hostPath: join(entry.layer, ...done, part) };
    }
  }
  return null;
}

/** The contents of `path` in the image made of `layers` (top first): a regular file only, read safely. */
export async function readLayerFile(layers: readonly string[], path: string, maxBytes = SAFE_READ_MAX_BYTES, probe?: OpaqueProbe): Promise<SafeRead> {
  const f = await resolveLayerFile(layers, path, probe);
  if (!f) return { ok: false, reason: 'absent' };
  return readRegularFile(f.hostPath, maxBytes);
}

async function slotOf(layer: string, done: string[], part: string): Promise<LayerSlot> {
  const dir = join(layer, ...done);
  const [stat, marker] = await Promise.all([lstat(join(dir, part)).catch(() => undefined), lstat(join(dir, `${WHITEOUT_PREFIX}${part}`)).catch(() => undefined)]);
  return { layer, stat, ociWhiteout: marker !== undefined };
}

async function isOpaqueDir(dir: string, probe: OpaqueProbe): Promise<boolean> {
  if (
    await lstat(join(dir, OPAQUE_MARKER)).then(
      () => true,
      () => false,
    )
  )
    return true;
  return probe(dir);
}

function isWhiteout(st: Stats): boolean {
  return st.isCharacterDevice() && st.rdev === 0;
}

/** Not normalised: a `..` of a relative symlink target must climb from the link's own directory. */
function components(path: string): string[] {
  return path.split('/').filter((p) => p !== '' && p !== '.');
}

/**
 * `trusted.overlay.opaque` of a directory, by getfattr (Node has no
 * getxattr; the attr package is already required for setfattr by the
 * unpacker). A dump filtered to that one name prints nothing and succeeds
 * when the directory lacks it.
 */
export function opaqueByXattr(dir: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const args = ['-h', '--absolute-names', '-d', '-m', '^trusted\\.overlay\\.opaque$', '--', dir];
    execFile('getfattr', args, { timeout: 10_000, maxBuffer: 64 * 1024 }, (err, stdout, stderr) => {
      if (err) return reject(new InternalError(`reading trusted.overlay.opaque of image layer dir ${dir} failed: ${stderr.trim() || err.message}`));
      resolve(stdout.split('\n').includes('trusted.overlay.opaque="y"'));
    });
  });
}

/** Directories whose opacity is remembered at most (a few per layer are ever asked: those on the way to /etc/passwd and /etc/group). */
const OPAQUE_CACHE_MAX = 4096;

/**
 * opaqueByXattr, asked once per directory: an image layer's snapshot is
 * content-addressed and never changes once unpacked, so its answer holds
 * for as long as the path exists and for whatever is unpacked there again.
 * Every CreateContainer of a multi-layer image read /etc/passwd and
 * /etc/group through every layer's /etc: a getfattr process per layer and
 * file, each time. A failed probe is not remembered. One per controller
 * (per-daemon state, not module state).
 */
export class OpaqueCache {
  private readonly answers = new Map<string, Promise<boolean>>();

  constructor(private readonly probe: OpaqueProbe = opaqueByXattr) {}

  readonly ask: OpaqueProbe = (dir) => {
    let p = this.answers.get(dir);
    if (!p) {
      if (this.answers.size >= OPAQUE_CACHE_MAX) this.answers.clear();
      p = this.probe(dir);
      this.answers.set(dir, p);
      p.catch(() => this.answers.delete(dir));
    }
    return p;
  };
}
