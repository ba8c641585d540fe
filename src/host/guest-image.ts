// Finds the guest that guest-image/build produced (kernel, initramfs, rootfs,
// manifest.json) and checks it is whole before a VM is pointed at it. Which
// directory is chooseGuestDir's answer (guest-record.ts): the configured one,
// or the one this checkout's build recorded. The build publishes a finished
// directory by rename, so a directory with a manifest is complete unless
// someone changed it since: that is what the size check (always) and the
// sha256 check (on request, it reads ~250 MB) are for.

import { closeSync, openSync, readFileSync, readSync, realpathSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { chooseGuestDir, CHECKOUT_GUEST_RECORD } from './guest-record';

export interface GuestPart {
  /** File name inside the guest directory. */
  file: string;
  size: number;
  sha256: string;
}

export interface GuestRootfsPart extends GuestPart {
  /** Where the ext4 filesystem starts, behind the fsdax info block. */
  data_offset: number;
  fs_size: number;
  fsdax_align: number;
}

export type GuestPartName = 'vmlinux' | 'bzImage' | 'initramfs' | 'rootfs';

export interface GuestManifest {
  schema: 1;
  /** sha256 over every input of the build (also the directory name). */
  hash: string;
  built_at: string;
  kernel: { package: string; release: string; payload_compression: string; cmdline: string };
  packages: { name: string; version: string; sha256: string; source: string }[];
  node: string;
  /** Version of the guest's OCI runtime, crun (images built before it ran runc name `runc` instead). */
  crun?: string;
  runc?: string;
  /** "fallback" while the real agent bundle was not built: the guest boots but serves nothing. */
  agent: 'bundle' | 'fallback';
  agent_source: string;
  vsock_addon: boolean;
  /** Loaded by the initramfs at every boot, in load order (file names). */
  modules: string[];
  /**
   * In the rootfs under /lib/modules/<release>/ and loaded only when the guest
   * kernel asks for them (request_module → /sbin/modprobe): names, sorted.
   * Absent in images built before on-demand loading.
   */
  modules_on_demand?: string[];
  /** The boot modules the kernel has built in (none with Debian's kernel). */
  modules_builtin?: string[];
  parts: { vmlinux: GuestPart; bzImage: GuestPart; initramfs: GuestPart; rootfs: GuestRootfsPart };
}

export interface GuestImage {
  /** The real directory (symlinks resolved), stable while this build exists. */
  dir: string;
  hash: string;
  manifest: GuestManifest;
  /** Why this image: the config names it, or this checkout's build recorded it. */
  why: string;
}

export type GuestImageLookup = GuestImage | { missing: string };

export interface FindGuestImageOptions {
  /** Also compare each part's sha256 with the manifest (reads every byte). */
  verifyHashes?: boolean;
  /** The checkout's build record consulted when no directory is given (tests point it elsewhere). */
  record?: string;
}

const PART_NAMES: readonly GuestPartName[] = ['vmlinux', 'bzImage', 'initramfs', 'rootfs'];
const REBUILD = 'rebuild it with guest-image/build (scripts/setup does)';

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Why `v` is not a manifest this code understands, or undefined when it is. */
export function manifestProblem(v: unknown): string | undefined {
  if (!isObject(v)) return 'is not a JSON object';
  if (v.schema !== 1) return `has schema ${JSON.stringify(v.schema)}, this vmpod reads schema 1`;
  if (typeof v.hash !== 'string' || !/^[0-9a-f]{64}$/.test(v.hash)) return 'has no valid "hash"';
  if (v.agent !== 'bundle' && v.agent !== 'fallback') return 'has no valid "agent" ("bundle" or "fallback")';
  if (!isObject(v.kernel) || typeof v.kernel.cmdline !== 'string') return 'has no "kernel.cmdline"';
  if (!isObject(v.parts)) return 'has no "parts"';
  for (const name of PART_NAMES) {
    const p = v.parts[name];
    if (!isObject(p)) return `has no part "${name}"`;
    if (typeof p.file !== 'string' || p.file === '' || p.file.includes('/')) return `part "${name}" has no valid "file"`;
    if (typeof p.size !== 'number' || !Number.isSafeInteger(p.size) || p.size <= 0) return `part "${name}" has no valid "size"`;
    if (typeof p.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(p.sha256)) return `part "${name}" has no valid "sha256"`;
  }
  const r = v.parts.rootfs as Record<string, unknown>;
  for (const k of ['data_offset', 'fs_size', 'fsdax_align']) {
    if (typeof r[k] !== 'number' || !Number.isSafeInteger(r[k])) return `part "rootfs" has no valid "${k}"`;
  }
  return undefined;
}

function sha256File(path: string): string {
  const h = createHash('sha256');
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (let n = readSync(fd, buf); n > 0; n = readSync(fd, buf)) h.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return h.digest('hex');
}

/**
 * The guest image in `dir` (a VM handler's configured `guest_dir`; empty or
 * undefined means the one this checkout's build recorded), or why there is
 * none usable.
 */
export function findGuestImage(dir?: string, opts: FindGuestImageOptions = {}): GuestImageLookup {
  const choice = chooseGuestDir(dir, opts.record ?? CHECKOUT_GUEST_RECORD);
  if ('missing' in choice) return choice;
  const wanted = choice.dir;
  let real: string;
  try {
    real = realpathSync(wanted);
  } catch {
    return { missing: `guest image directory ${wanted} (${choice.why}) does not exist: ${REBUILD}` };
  }
  const manifestPath = join(real, 'manifest.json');
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(manifestPath, 'utf8'));
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : `cannot be read: ${(err as Error).message}`;
    return { missing: `guest manifest ${manifestPath} ${why}: ${REBUILD}` };
  }
  const problem = manifestProblem(parsed);
  if (problem) return { missing: `guest manifest ${manifestPath} ${problem}: ${REBUILD}` };
  const manifest = parsed as GuestManifest;
  if (choice.record && manifest.hash !== choice.record.hash) {
    return { missing: `guest manifest ${manifestPath} is of image ${manifest.hash}, but ${choice.record.path} names ${choice.record.hash}: ${REBUILD}` };
  }
  for (const name of PART_NAMES) {
    const part = manifest.parts[name];
    const path = join(real, part.file);
    let size: number;
    try {
      size = statSync(path).size;
    } catch {
      return { missing: `guest ${name} ${path} does not exist: ${REBUILD}` };
    }
    if (size !== part.size) return { missing: `guest ${name} ${path} has ${size} bytes, the manifest says ${part.size}: ${REBUILD}` };
    if (opts.verifyHashes && sha256File(path) !== part.sha256) {
      return { missing: `guest ${name} ${path} does not match the sha256 in the manifest: ${REBUILD}` };
    }
  }
  return { dir: real, hash: manifest.hash, manifest, why: choice.why };
}

/**
 * Keeps the image's manifest open for the life of this process. The build's
 * garbage collection never deletes an image a process holds open or maps,
 * so a daemon that holds the image it chose keeps it even when no VM runs
 * from it and its checkout has since recorded a newer build.
 */
export function holdGuestImage(img: GuestImage): () => void {
  const fd = openSync(join(img.dir, 'manifest.json'), 'r');
  return () => closeSync(fd);
}

/** Absolute path of one part of a found guest image. */
export function guestPartPath(img: GuestImage, part: GuestPartName): string {
  return join(img.dir, img.manifest.parts[part].file);
}

/** The shape `vmpod check` (src/host/capabilities.ts ExtraProbes.guestImage) consumes. */
export function guestImageProbe(dir?: string): { ok: true; detail: string } | { ok: false; detail: string } {
  const found = findGuestImage(dir);
  if ('missing' in found) return { ok: false, detail: found.missing };
  const m = found.manifest;
  const agent = m.agent === 'fallback' ? ', FALLBACK agent (agent bundle was not built)' : '';
  const modules = `modules: ${m.modules.length} at boot, ${m.modules_on_demand ? `${m.modules_on_demand.length} on demand` : 'none on demand (image predates it)'}`;
  return { ok: true, detail: `${found.dir} (${found.why}) hash ${found.hash.slice(0, 12)} kernel ${m.kernel.release} node ${m.node}, ${modules}${agent}` };
}
