// Unpack one layer tar into an empty directory, as an overlayfs lower layer:
// OCI whiteouts become overlayfs whiteouts (char device 0/0), opaque markers
// become `trusted.overlay.opaque=y`, and ownership, modes, timestamps,
// symlinks, hardlinks, devices and xattrs are kept.
//
// Path safety: the target directory is fresh, so the map of what this layer
// created is the whole truth about it. An entry is refused when its name is
// absolute or has `..`, when any parent is a symlink created by the layer, or
// when a hardlink names something outside the layer and its lowers. The
// caller unpacks into a temp dir and renames it into place only on success.
//
// Node has no mknod or setxattr, so device nodes, whiteouts, opaque markers
// and xattrs are collected and created by one `sh` script per layer
// (`mknod`, `setfattr` from the Debian `attr` package).

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, copyFile, lchown, link, lstat, lutimes, mkdir, open, rm, statfs, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar-stream';
import { decompressed, sniffCompression } from './decompress';
import { entryComponents, resolveInRoot, shQuote, UnsafeLayerError, whiteoutOf } from './layer-path';
import { lowerEntry, lowerRegularFile } from './lower-layers';
import type { Compression } from './manifest';
import { PaxXattrScanner } from './pax-xattrs';

const OVERLAY_XATTR_PREFIX = 'trusted.overlay.';

export interface UnpackOptions {
  blobPath: string;
  /** Empty directory to unpack into. */
  target: string;
  /** `fs` dirs of the lower snapshots, top first: hardlinks may name files there. */
  lowers: string[];
  /** diff_id the uncompressed tar must hash to. */
  diffId: string;
  mediaTypeCompression: Compression;
  /** Defaults: DEFAULT_UNPACK_LIMITS. */
  limits?: Partial<UnpackLimits>;
  /** Stops the unpack (daemon shutdown); the caller removes the target. */
  signal?: AbortSignal;
}

/**
 * What one layer may make the daemon hold. Entry names (the map of what the
 * layer created) and xattrs stay in memory until the layer's end, so they are
 * bounded: a small compressed layer could otherwise expand into gigabytes.
 */
export interface UnpackLimits {
  entries: number;
  /** Bytes of entry names and xattrs (names and values) held at once. */
  heldBytes: number;
  /**
   * Uncompressed bytes the layer may have. Only the compressed size is known
   * before the download, and a few hundred KiB of zstd expand to terabytes of
   * zeros: the unpack stops when the tar passes this, long before the disk fills.
   */
  bytes: number;
  /** The unpack stops when the filesystem of the target has less free space than this (0: no check). */
  freeFloorBytes: number;
}

export const DEFAULT_UNPACK_LIMITS: UnpackLimits = { entries: 2_000_000, heldBytes: 256 << 20, bytes: Number.MAX_SAFE_INTEGER, freeFloorBytes: 0 };

/** The free space is looked at once per this many unpacked bytes (a statfs per chunk would cost more than the write). */
const FREE_SPACE_CHECK_BYTES = 64 << 20;

/** The layer is larger than the limits allow, or the disk is about to fill: RESOURCE_EXHAUSTED. */
export class LayerTooLargeError extends Error {
  override name = 'LayerTooLargeError';
  constructor(
    readonly kind: 'bytes' | 'free-space',
    message: string,
  ) {
    super(message);
  }
}

export interface UnpackStats {
  entries: number;
  whiteouts: number;
  opaques: number;
  bytes: number;
  /** Index entries visited to forget replaced subtrees: at most the entries created, so the unpack stays linear. */
  forgetVisits: number;
}

export class DiffIdMismatchError extends Error {
  override name = 'DiffIdMismatchError';
}

type Kind = 'dir' | 'file' | 'symlink' | 'special';

/** The header fields applied after creation (never the whole header: its PAX records can be megabytes). */
type Attrs = Pick<tar.Header, 'uid' | 'gid' | 'mode' | 'mtime'>;

interface Special {
  type: 'c' | 'b' | 'p';
  major: number;
  minor: number;
  attrs: Attrs;
}

/** Linux XATTR_NAME_MAX / XATTR_SIZE_MAX: the kernel refuses anything larger anyway. */
const XATTR_NAME_MAX = 255;
const XATTR_SIZE_MAX = 64 * 1024;

export async function unpackLayer(opts: UnpackOptions): Promise<UnpackStats> {
  const limits = { ...DEFAULT_UNPACK_LIMITS, ...opts.limits };
  opts.signal?.throwIfAborted();
  const compression = await sniffCompression(opts.blobPath, opts.mediaTypeCompression);
  const src = decompressed(opts.blobPath, compression);
  const hash = createHash('sha256');
  let bytes = 0;
  let nextSpaceCheck = 0; // the first chunk looks: a disk already below the floor refuses at once
  const scanner = new PaxXattrScanner();
  const hasher = new Transform({
    transform(chunk: Buffer, _e, cb) {
      bytes += chunk.length;
      if (bytes > limits.bytes) {
        cb(new LayerTooLargeError('bytes', `it unpacks to more than ${limits.bytes} bytes`));
        return;
      }
      hash.update(chunk);
      scanner.feed(chunk);
      if (limits.freeFloorBytes > 0 && bytes >= nextSpaceCheck) {
        nextSpaceCheck = bytes + FREE_SPACE_CHECK_BYTES;
        statfs(opts.target).then(
          (st) =>
            cb(st.bavail * st.bsize < limits.freeFloorBytes ? new LayerTooLargeError('free-space', `the image filesystem has less than ${limits.freeFloorBytes} bytes free (the floor)`) : null, chunk),
          (err: Error) => cb(err),
        );
        return;
      }
      cb(null, chunk);
    },
  });
  const extract = tar.extract();
  const feed = pipeline(src.stream, hasher, extract, ...(opts.signal ? [{ signal: opts.signal }] : []));
  feed.catch(() => undefined); // surfaced below through the iterator or `await feed`
  // When the unpack stops early (a limit, a bad entry), the decompressor dies of the closed pipe while
  // the loop below may still be awaiting a write: its rejection is expected then, and awaited below otherwise.
  src.done.catch(() => undefined);
  const u = new Unpacker(opts.target, opts.lowers, scanner, limits);
  try {
    for await (const entry of extract) {
      opts.signal?.throwIfAborted();
      await u.entry(entry.header, entry as unknown as AsyncIterable<Buffer>);
      entry.resume();
    }
    await feed;
    await src.done;
  } catch (err) {
    extract.destroy();
    src.stream.destroy();
    await src.done.catch(() => undefined);
    throw err;
  }
  const diffId = `sha256:${hash.digest('hex')}`;
  if (diffId !== opts.diffId) throw new DiffIdMismatchError(`uncompressed layer digest is ${diffId}, the image config says ${opts.diffId}`);
  await u.finish();
  return { entries: u.entries, whiteouts: u.whiteoutCount, opaques: u.opaque.size, bytes, forgetVisits: u.forgetVisits };
}

class Unpacker {
  /** What this layer created, by path. Written only through setKind/forget, which keep `children` in step. */
  readonly kinds = new Map<string, Kind>();
  /**
   * The children of each directory this layer created, so that replacing a
   * directory forgets exactly its subtree. Scanning every key instead made a
   * layer of a million files followed by replacements quadratic: hours of
   * event-loop CPU from a small, hostile layer.
   */
  private readonly children = new Map<string, Set<string>>();
  forgetVisits = 0;
  readonly specials = new Map<string, Special>();
  readonly whiteouts = new Set<string>();
  readonly opaque = new Set<string>();
  readonly xattrs: { rel: string; name: string; value: Buffer }[] = [];
  readonly dirTimes = new Map<string, Date>();
  entries = 0;
  whiteoutCount = 0;
  private heldBytes = 0;

  constructor(
    private readonly root: string,
    private readonly lowers: string[],
    private readonly pax: PaxXattrScanner,
    private readonly limits: UnpackLimits,
  ) {}

  private hold(bytes: number): void {
    this.heldBytes += bytes;
    if (this.heldBytes > this.limits.heldBytes) throw new UnsafeLayerError(`layer names and xattrs exceed ${this.limits.heldBytes} bytes`);
  }

  private setKind(rel: string, kind: Kind): void {
    if (!this.kinds.has(rel)) {
      const slash = rel.lastIndexOf('/');
      const parent = slash < 0 ? '' : rel.slice(0, slash);
      let set = this.children.get(parent);
      if (!set) this.children.set(parent, (set = new Set()));
      set.add(rel);
    }
    this.kinds.set(rel, kind);
  }

  /** Forget `rel` and, for a directory, everything under it: cost proportional to that subtree. */
  private forget(rel: string): void {
    const slash = rel.lastIndexOf('/');
    this.children.get(slash < 0 ? '' : rel.slice(0, slash))?.delete(rel);
    const stack = [rel];
    while (stack.length > 0) {
      const k = stack.pop()!;
      this.forgetVisits++;
      this.kinds.delete(k);
      this.specials.delete(k);
      this.opaque.delete(k);
      this.dirTimes.delete(k);
      const kids = this.children.get(k);
      if (kids) {
        this.children.delete(k);
        for (const c of kids) stack.push(c);
      }
    }
  }

  private abs(rel: string): string {
    return rel === '' ? this.root : join(this.root, rel);
  }

  /**
   * Make every parent of `parts` a directory of this layer and return the
   * entry's path. Symlinks made by this layer are refused. A parent the layer
   * does not list is looked up in the lowers, as Docker's unpack would see it
   * through the merged view: a directory there is recreated with its owner,
   * mode and times (so the merged view keeps them); a symlink there is
   * followed, resolved inside the image root, never outside it.
   */
  private async parents(input: string[], name: string): Promise<string[]> {
    let parts = input;
    let hops = 0;
    for (let i = 1; i < parts.length; i++) {
      const rel = parts.slice(0, i).join('/');
      const kind = this.kinds.get(rel);
      if (kind === 'dir') continue;
      if (kind === 'symlink') throw new UnsafeLayerError(`entry "${name}" goes through "${rel}", a symlink in the same layer; that could write outside the layer`);
      if (kind !== undefined) {
        await this.remove(rel);
        await mkdir(this.abs(rel), { mode: 0o755 });
        this.setKind(rel, 'dir');
        continue;
      }
      const lower = await lowerEntry(this.lowers, parts.slice(0, i));
      if (lower?.kind === 'symlink') {
        if (++hops > 40) throw new UnsafeLayerError(`entry "${name}": too many levels of symlinks in lower layers`);
        parts = [...resolveInRoot(parts.slice(0, i - 1), lower.target), ...parts.slice(i)];
        i = 0;
        continue;
      }
      await mkdir(this.abs(rel), { mode: 0o755 });
      this.setKind(rel, 'dir');
      if (lower?.kind === 'dir') {
        const st = lower.stat;
        await lchown(this.abs(rel), st.uid, st.gid);
        await chmod(this.abs(rel), st.mode & 0o7777);
        this.dirTimes.set(rel, st.mtime);
      }
    }
    return parts;
  }

  /** Remove what this layer put at `rel` (a later entry replaces an earlier one). */
  private async remove(rel: string): Promise<void> {
    const kind = this.kinds.get(rel);
    if (kind === undefined) return;
    this.forget(rel);
    if (kind !== 'special') await rm(this.abs(rel), { recursive: true, force: true });
  }

  async entry(h: tar.Header, body: AsyncIterable<Buffer>): Promise<void> {
    if (++this.entries > this.limits.entries) throw new UnsafeLayerError(`layer has more than ${this.limits.entries} entries`);
    this.hold(h.name.length);
    // The scanner saw this entry's header before tar-stream emitted it: same order, one item each.
    const rawXattrs = this.pax.queue.shift() ?? null;
    const named = entryComponents(h.name);
    const type = h.type ?? 'file';
    if (named.length === 0) return; // the layer root itself: the snapshot dir keeps its own attributes
    const parts = await this.parents(named, h.name);
    const rel = parts.join('/');
    const base = parts[parts.length - 1];
    const wh = whiteoutOf(base);
    if (wh) {
      const parent = parts.slice(0, -1).join('/');
      if (wh.kind === 'opaque') {
        if (parent !== '') this.opaque.add(parent);
      } else if (wh.kind === 'whiteout') {
        this.whiteouts.add(parent === '' ? wh.name : `${parent}/${wh.name}`);
        this.whiteoutCount++;
      }
      return;
    }
    const path = this.abs(rel);
    const existing = this.kinds.get(rel);
    if (type === 'directory') {
      if (existing !== 'dir') {
        await this.remove(rel);
        await mkdir(path, { mode: 0o700 });
        this.setKind(rel, 'dir');
      }
      await this.meta(path, h, false);
      if (h.mtime) this.dirTimes.set(rel, h.mtime);
    } else if (type === 'file' || type === 'contiguous-file') {
      await this.remove(rel);
      // 'wx' never follows or reuses anything at the path: it must not exist.
      await writeEntry(path, body);
      this.setKind(rel, 'file');
      await this.meta(path, h, true);
    } else if (type === 'symlink') {
      await this.remove(rel);
      // The target is not followed here; it is resolved inside the container's root at run time.
      await symlink(h.linkname ?? '', path);
      this.setKind(rel, 'symlink');
      await lchown(path, h.uid ?? 0, h.gid ?? 0);
      if (h.mtime) await lutimes(path, h.mtime, h.mtime);
    } else if (type === 'link') {
      await this.hardlink(h, rel, path);
    } else if (type === 'character-device' || type === 'block-device' || type === 'fifo') {
      await this.remove(rel);
      this.specials.set(rel, {
        type: type === 'fifo' ? 'p' : type === 'block-device' ? 'b' : 'c',
        major: h.devmajor ?? 0,
        minor: h.devminor ?? 0,
        attrs: { uid: h.uid, gid: h.gid, mode: h.mode, mtime: h.mtime },
      });
      this.setKind(rel, 'special');
    } else {
      return; // pax/gnu headers are folded into the next entry by tar-stream; nothing else is meaningful
    }
    if (rawXattrs) for (const [name, value] of rawXattrs) this.addXattr(h.name, rel, name, value);
  }

  private addXattr(entry: string, rel: string, name: string, value: Buffer): void {
    if (Buffer.byteLength(name) > XATTR_NAME_MAX || value.length > XATTR_SIZE_MAX) {
      throw new UnsafeLayerError(`entry "${entry}": xattr "${name.slice(0, 64)}" exceeds the kernel's limits (name ${XATTR_NAME_MAX} bytes, value ${XATTR_SIZE_MAX} bytes)`);
    }
    // overlayfs keeps its own metadata in trusted.overlay.* (redirects, origins, metacopy): that is the
    // kernel's to write. Taken from a layer it would steer lookups inside the container's overlay, so it
    // is dropped; whiteouts and opaque dirs arrive as OCI markers and are translated above.
    if (name.startsWith(OVERLAY_XATTR_PREFIX)) return;
    this.hold(name.length + value.length);
    this.xattrs.push({ rel, name, value });
  }

  private async hardlink(h: tar.Header, rel: string, path: string): Promise<void> {
    const targetParts = entryComponents(h.linkname ?? '', `hardlink target of "${h.name}"`);
    if (targetParts.length === 0) throw new UnsafeLayerError(`hardlink "${h.name}" names the layer root`);
    const targetRel = targetParts.join('/');
    for (let i = 1; i < targetParts.length; i++) {
      if (this.kinds.get(targetParts.slice(0, i).join('/')) === 'symlink') throw new UnsafeLayerError(`hardlink "${h.name}" goes through a symlink to reach "${h.linkname}"`);
    }
    const kind = this.kinds.get(targetRel);
    if (targetRel === rel) return;
    await this.remove(rel);
    if (kind === 'file' || kind === 'symlink') {
      await link(this.abs(targetRel), path);
      this.setKind(rel, kind);
      return;
    }
    if (kind !== undefined) throw new UnsafeLayerError(`hardlink "${h.name}" names "${h.linkname}", which is not a file`);
    // The target lives in a lower layer. A hardlink cannot cross snapshots, so
    // copy the file up, as overlayfs itself would on the first write.
    for (const lower of this.lowers) {
      const found = await lowerRegularFile(lower, targetParts);
      if (found) {
        await copyFile(found, path);
        const st = await lstat(found);
        await lchown(path, st.uid, st.gid);
        await chmod(path, st.mode & 0o7777);
        await lutimes(path, st.atime, st.mtime);
        this.setKind(rel, 'file');
        return;
      }
    }
    throw new UnsafeLayerError(`hardlink "${h.name}" names "${h.linkname}", which is neither in this layer nor a regular file in a lower one`);
  }

  private async meta(path: string, h: Attrs, times: boolean): Promise<void> {
    await lchown(path, h.uid ?? 0, h.gid ?? 0);
    // After chown, which clears set-id bits.
    await chmod(path, (h.mode ?? 0o644) & 0o7777);
    if (times && h.mtime) await lutimes(path, h.mtime, h.mtime);
  }

  /** Devices, whiteouts, opaque dirs and xattrs in one shell run, then the deferred times. */
  async finish(): Promise<void> {
    const lines: string[] = [];
    for (const [rel, s] of this.specials) {
      lines.push(s.type === 'p' ? `mknod ${shQuote(this.abs(rel))} p` : `mknod ${shQuote(this.abs(rel))} ${s.type} ${s.major} ${s.minor}`);
    }
    const whiteouts = [...this.whiteouts].filter((rel) => !this.kinds.has(rel));
    for (const rel of whiteouts) {
      const parts = rel.split('/');
      await this.parents(parts, rel);
      lines.push(`mknod ${shQuote(this.abs(rel))} c 0 0`);
    }
    for (const rel of this.opaque) {
      if (this.kinds.get(rel) !== 'dir') continue;
      lines.push(`setfattr -h -n trusted.overlay.opaque -v y ${shQuote(this.abs(rel))}`);
    }
    for (const x of this.xattrs) {
      if (!this.kinds.has(x.rel)) continue;
      // Base64 ("0s"): a 64 KiB value in hex would exceed the kernel's 128 KiB limit on one argument.
      // An empty one must be "0x": setfattr silently sets nothing for a bare "0s".
      const encoded = x.value.length ? `0s${x.value.toString('base64')}` : '0x';
      lines.push(`setfattr -h -n ${shQuote(x.name)} -v ${encoded} ${shQuote(this.abs(x.rel))}`);
    }
    if (lines.length > 0) await runScript(lines.join('\n') + '\n');
    for (const [rel, s] of this.specials) await this.meta(this.abs(rel), s.attrs, true);
    // Deepest first, so that setting a child's times does not disturb its parent's.
    const dirs = [...this.dirTimes.entries()].sort((a, b) => b[0].split('/').length - a[0].split('/').length);
    for (const [rel, t] of dirs) await lutimes(this.abs(rel), t, t);
  }
}

async function writeEntry(path: string, body: AsyncIterable<Buffer>): Promise<void> {
  const fh = await open(path, 'wx', 0o600);
  try {
    for await (const chunk of body) {
      let off = 0;
      while (off < chunk.length) off += (await fh.write(chunk, off, chunk.length - off)).bytesWritten;
    }
  } finally {
    await fh.close();
  }
}

/** Run a generated `sh -e` script fed on stdin (no argument-length limit). */
function runScript(script: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-e', '-s'], { stdio: ['pipe', 'ignore', 'pipe'], env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve();
      else {
        const hint = script.includes('setfattr') && !existsSync('/usr/bin/setfattr') ? '; setfattr is missing: install the Debian package attr' : '';
        reject(new Error(`creating device nodes, whiteouts or xattrs failed (exit ${code})${hint}: ${stderr.trim().slice(0, 500)}`));
      }
    });
    const input = new PassThrough();
    input.pipe(child.stdin);
    input.end(script);
  });
}
