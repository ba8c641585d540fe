// Snapshots: each layer unpacked once into `<root>/snapshots/<chainid hex>/fs`,
// the chain id (OCI image-spec config.md) naming the layer together with
// everything below it. A container root filesystem is an overlayfs mount of
// its image's chain (top first) plus a per-container upper and work dir.

import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { open, readdir, readlink, rename, rm, stat, symlink, unlink } from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';
import { InternalError } from '../../common/errors';
import { sha256 } from './content-store';
import { makeDirs } from '../host/make-dirs';
import { mountDirect, mountFailureWords } from '../host/mount-calls';
import { runProgram } from '../host/run-program';

// Without forking the daemon (host/run-program.ts): the rootfs umount runs at every container's stop.
const run = runProgram;

/** chain(0) = diff(0); chain(n) = sha256(chain(n-1) + " " + diff(n)). */
export function chainIds(diffIds: string[]): string[] {
  const out: string[] = [];
  for (const d of diffIds) out.push(out.length === 0 ? d : sha256(`${out[out.length - 1]} ${d}`));
  return out;
}

export class SnapshotStore {
  readonly dir: string;

  constructor(root: string) {
    this.dir = join(root, 'snapshots');
  }

  async init(): Promise<void> {
    await makeDirs(this.dir, 0o700);
  }

  fsDir(chainId: string): string {
    return join(this.dir, chainId.slice('sha256:'.length), 'fs');
  }

  async has(chainId: string): Promise<boolean> {
    return stat(this.fsDir(chainId)).then(
      (s) => s.isDirectory(),
      () => false,
    );
  }

  /** has(), on the event loop: one stat returns in microseconds, where an asynchronous one queues in libuv's pool (CreateContainer asks once per layer). */
  hasSync(chainId: string): boolean {
    return statSync(this.fsDir(chainId), { throwIfNoEntry: false })?.isDirectory() ?? false;
  }

  /** A fresh temp snapshot dir (`.tmp-*`, swept at start-up). */
  async tempDir(): Promise<{ dir: string; fs: string }> {
    const dir = join(this.dir, `.tmp-${randomBytes(6).toString('hex')}`);
    await makeDirs(join(dir, 'fs'), 0o755);
    return { dir, fs: join(dir, 'fs') };
  }

  /**
   * Publish a finished temp dir under its chain id; a concurrent winner makes
   * this a no-op. The layer's data reaches the disk before its name does: a
   * host crash must not leave a snapshot that exists with empty files.
   */
  async commit(temp: string, chainId: string): Promise<void> {
    const final = join(this.dir, chainId.slice('sha256:'.length));
    // syncfs(2) of the snapshots' filesystem: one call instead of an fsync per file.
    await run('sync', ['-f', temp]);
    try {
      await rename(temp, final);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
      await rm(temp, { recursive: true, force: true });
      return;
    }
    const dir = await open(this.dir, 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }

  async list(): Promise<string[]> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    return names.filter((n) => /^[a-f0-9]{64}$/.test(n)).map((n) => `sha256:${n}`);
  }

  async remove(chainId: string): Promise<void> {
    const hex = chainId.slice('sha256:'.length);
    const link = join(this.dir, shortLinkName(hex));
    if ((await readlink(link).catch(() => undefined)) === shortLinkTarget(hex)) await unlink(link).catch(() => undefined);
    await rm(join(this.dir, hex), { recursive: true, force: true });
  }

  /**
   * `l/<16 hex>`, a symlink to the snapshot's fs dir, relative to this.dir:
   * the short lowerdir name that lets one overlay mount take ~200 layers
   * where the 64-hex names fit ~58 in the one page mount options may use.
   * Made on first need; removed with the snapshot.
   */
  async shortLink(fsDir: string): Promise<string> {
    const hex = basename(dirname(fsDir));
    if (!/^[a-f0-9]{64}$/.test(hex) || dirname(dirname(fsDir)) !== this.dir) throw new InternalError(`${fsDir} is not a snapshot of ${this.dir}`);
    const name = shortLinkName(hex);
    await makeDirs(join(this.dir, 'l'), 0o700);
    try {
      await symlink(shortLinkTarget(hex), join(this.dir, name));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const current = await readlink(join(this.dir, name));
      // Two chain ids sharing 64 bits of prefix: refuse rather than point a layer at the wrong snapshot.
      if (current !== shortLinkTarget(hex)) throw new InternalError(`snapshot link ${name} already points at ${current}, not at ${hex}`);
    }
    return name;
  }

  /** Delete temp dirs of unpacks a killed daemon never finished. */
  async sweep(): Promise<string[]> {
    const names = (await readdir(this.dir).catch(() => [] as string[])).filter((n) => n.startsWith('.tmp-'));
    await Promise.all(names.map((n) => rm(join(this.dir, n), { recursive: true, force: true })));
    return names;
  }
}

export interface RootfsLayout {
  /** Snapshot `fs` dirs, top (last layer) first, as overlayfs `lowerdir` wants them. */
  lowerdirs: string[];
  upper: string;
  work: string;
  mountpoint: string;
}

function shortLinkName(hex: string): string {
  return join('l', hex.slice(0, 16));
}

function shortLinkTarget(hex: string): string {
  return join('..', hex, 'fs');
}

/** The overlayfs mount options for a layout (pure). */
export function overlayOptions(l: RootfsLayout): string {
  for (const p of [...l.lowerdirs, l.upper, l.work]) {
    if (/[,:\\]/.test(p)) throw new InternalError(`overlay path ${p} contains a character (, : \\) that overlayfs options cannot carry`);
  }
  return `lowerdir=${l.lowerdirs.join(':')},upperdir=${l.upper},workdir=${l.work}`;
}

/**
 * Mounts the overlay. Mount options fit in one page: when the absolute
 * lowerdirs do not, they are given relative to the snapshots dir (the cwd of
 * `mount`), and when those do not either, as the store's short links.
 */
export async function mountOverlay(l: RootfsLayout, snapshots?: SnapshotStore): Promise<void> {
  await makeDirs(l.mountpoint, 0o755);
  if (await isMountpoint(l.mountpoint)) return;
  let options = overlayOptions(l);
  let cwd: string | undefined;
  const common = commonParent(l.lowerdirs);
  if (options.length > MOUNT_OPTIONS_MAX && common) {
    cwd = common;
    options = overlayOptions({ ...l, lowerdirs: l.lowerdirs.map((d) => relative(common, d)) });
    if (options.length > MOUNT_OPTIONS_MAX && snapshots?.dir === common) {
      const links: string[] = [];
      for (const d of l.lowerdirs) links.push(await snapshots.shortLink(d));
      options = overlayOptions({ ...l, lowerdirs: links });
    }
  }
  if (options.length > MOUNT_OPTIONS_MAX) throw new InternalError(`the image has too many layers (${l.lowerdirs.length}) for one overlayfs mount`);
  await mountOverlayWith(options, l.mountpoint, cwd, 'the container root filesystem (overlay)');
}

/** What mount(8) may carry in one page of options. */
export const MOUNT_OPTIONS_MAX = 4000;
/** mount(8) of an overlayfs never waits on I/O; one that has not returned by then is stuck, not slow. */
const MOUNT_TIMEOUT_MS = 30_000;

/**
 * Mounts an overlayfs with `options` at `mountpoint`: by mount(2) from the
 * daemon when the paths are absolute (host/mount-calls.ts), else by mount(8)
 * in `cwd`, which relative lowerdirs and short links need. A failure is
 * INTERNAL, naming `what` and the mount's own words.
 */
export async function mountOverlayWith(options: string, mountpoint: string, cwd: string | undefined, what: string): Promise<void> {
  try {
    if (!cwd && mountDirect('overlay', mountpoint, 'overlay', options)) return;
    await run('mount', ['-t', 'overlay', 'overlay', '-o', options, mountpoint], { cwd, timeoutMs: MOUNT_TIMEOUT_MS });
  } catch (err) {
    throw new InternalError(`mounting ${what} at ${mountpoint} failed: ${mountFailureWords(err)}`);
  }
}

function commonParent(dirs: string[]): string | undefined {
  // Snapshot dirs are <snapshots>/<chain>/fs: their grandparent is shared.
  const parents = new Set(dirs.map((d) => dirname(dirname(d))));
  return parents.size === 1 ? [...parents][0] : undefined;
}

export async function unmount(mountpoint: string): Promise<void> {
  if (!(await isMountpoint(mountpoint))) return;
  try {
    await run('umount', [mountpoint]);
  } catch {
    // Busy (a process still has it open): detach it, so that deletion of the dirs below cannot hang.
    await run('umount', ['-l', mountpoint]);
  }
}

export async function isMountpoint(path: string): Promise<boolean> {
  const mounts = await readFile('/proc/self/mountinfo', 'utf8');
  const esc = path.replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
  return mounts.split('\n').some((line) => line.split(' ')[4] === esc);
}
