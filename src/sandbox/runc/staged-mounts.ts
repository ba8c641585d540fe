// Mounts runc 1.1 cannot make: idmapped (a pod with its own user namespace)
// and recursively read-only (Mount.recursive_read_only). The spec marks them
// with the options newer runtimes take (`ridmap`, `rro`, oci/mounts.ts); here
// each is made by vmpod-mount (native/infra/vmpod-mount.c: open_tree clone,
// mount_setattr, move_mount) onto a staging path (RuncPaths.stagedMounts),
// and runc is handed a plain rbind of that path (a bind copies each mount's
// idmapping and read-only flag). The staging dir is outside the bundle on
// purpose: nothing that removes a bundle recursively may walk into a staged
// host volume. Once `runc create` has returned the
// container holds its own copies, so the staging mounts are detached at
// once: nothing of them stays mounted on the host.

import { chmod, chown, mkdir, readdir, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, sep } from 'node:path';
import { InternalError } from '../../../common/errors';
import { projectRoot } from '../../paths';
import { RIDMAP_OPTION, RRO_OPTION } from '../../oci/mounts';
import type { OciMount } from '../../oci/types';
import type { SpecNote } from '../../oci/input';
import { unmountDirect } from '../../host/mount-calls';
import { run } from './exec-file';

const TIMEOUT_MS = 30_000;

export function mountBinaryPath(): string {
  return join(projectRoot(), 'native', 'infra', 'build', 'vmpod-mount');
}

async function makeTarget(source: string, target: string): Promise<void> {
  if ((await stat(source)).isDirectory()) await mkdir(target, { recursive: true, mode: 0o700 });
  else await writeFile(target, '', { mode: 0o600 });
}

export interface StageOptions {
  binary: string;
  /** Pinned user namespace to idmap `ridmap` mounts to. */
  usernsPath?: string;
}

/**
 * Makes every `rro`/`ridmap` mount of `mounts` on a staging path in `dir`
 * and returns the mounts with runc-1.1 options and the staged sources.
 * A read-only bind whose filesystem cannot be idmapped (an overlay, e.g. an
 * image volume) is bound as it is, with a note: its files then show as
 * nobody inside but stay readable as their modes allow.
 */
export async function stageMounts(mounts: readonly OciMount[], dir: string, opts: StageOptions, notes: SpecNote[]): Promise<OciMount[]> {
  const out: OciMount[] = [];
  let n = 0;
  for (const m of mounts) {
    const rro = m.options.includes(RRO_OPTION);
    const idmap = m.options.includes(RIDMAP_OPTION) && !!opts.usernsPath;
    const readonly = m.options.includes('ro');
    if (!rro && !idmap) {
      out.push({ ...m, options: m.options.filter((o) => o !== RRO_OPTION && o !== RIDMAP_OPTION) });
      continue;
    }
    // The staged tree is read-only already (--ro/--rro), so runc gets no "ro": its remount is what a
    // user namespace refuses when the source has locked flags (nosuid, nodev: a tmpfs /run, an image volume).
    const options = m.options.filter((o) => o !== RRO_OPTION && o !== RIDMAP_OPTION && o !== 'ro');
    if (readonly) options.push('rw');
    const target = join(dir, String(n++));
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await makeTarget(m.source, target);
    const ro = rro ? ['--rro'] : readonly ? ['--ro'] : [];
    const r = await run(opts.binary, [...(idmap ? ['--userns', opts.usernsPath!] : []), ...ro, m.source, target], { timeoutMs: TIMEOUT_MS, allowFailure: true });
    if (r.code !== 0) {
      if (!(idmap && readonly)) throw new InternalError(`${idmap ? 'idmapped' : 'recursive read-only'} mount of ${m.source} for ${m.destination}: ${r.stderr.trim()}`);
      notes.push({ message: 'read-only mount cannot be idmapped; bound without idmapping', detail: { destination: m.destination, source: m.source, reason: r.stderr.trim() } });
      const again = await run(opts.binary, [...ro, m.source, target], { timeoutMs: TIMEOUT_MS, allowFailure: true });
      if (again.code !== 0) throw new InternalError(`read-only mount of ${m.source} for ${m.destination}: ${again.stderr.trim()}`);
    }
    out.push({ ...m, source: target, options });
  }
  return out;
}

/** Detaches and removes every staging mount in `dir`, then `dir`. Idempotent. */
export async function releaseStagedMounts(dir: string): Promise<void> {
  // Most containers stage nothing: one stat on the event loop instead of a readdir and an rmdir through libuv's pool, on every removal.
  if (!existsSync(dir)) return;
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const name of names) {
    const p = join(dir, name);
    await unmountAll(p);
    // Never recursive: a staging path still mounted must fail here, not lose a host volume's files.
    await rm(p, { force: true }).catch(() => rmdir(p));
  }
  await rmdir(dir).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== 'ENOENT') throw e;
  });
}

/** Lazily detaches every mount stacked on `path` (a staged tree may hold submounts: detach takes them too). */
export async function unmountAll(path: string): Promise<void> {
  for (let i = 0; i < 16 && isMountPoint(path); i++) {
    if (!detachDirect(path)) await run('umount', ['-l', path], { timeoutMs: TIMEOUT_MS, allowFailure: true });
  }
}

/** umount2(path, MNT_DETACH) from the daemon (host/mount-calls.ts); false without the addon. A refusal is left to the next round, as umount's failure was. */
function detachDirect(path: string): boolean {
  try {
    return unmountDirect(path, { lazy: true }) !== null;
  } catch {
    return true;
  }
}

function unescapeMountinfo(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

interface MountinfoEntry {
  mountPoint: string;
  fsType: string;
  superOptions: string;
}

function mountinfo(): MountinfoEntry[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [pre, post = ''] = l.split(' - ');
      const f = pre.split(' ');
      const g = post.split(' ');
      return { mountPoint: unescapeMountinfo(f[4] ?? ''), fsType: g[0] ?? '', superOptions: g[2] ?? '' };
    });
}

function isMountPoint(path: string): boolean {
  return mountinfo().some((e) => e.mountPoint === path);
}

export interface OverlayLayers {
  lowerdirs: string[];
  upperdir: string;
  workdir: string;
}

/** The layers of the overlay mounted at `mountPoint`, as its super options name them (the last mount there). */
export function overlayLayers(mountPoint: string, entries: readonly { mountPoint: string; fsType: string; superOptions: string }[] = mountinfo()): OverlayLayers {
  const e = [...entries].reverse().find((x) => x.mountPoint === mountPoint);
  if (!e || e.fsType !== 'overlay') throw new InternalError(`${mountPoint} is not an overlay mount`);
  const opts = new Map<string, string>();
  for (const o of e.superOptions.split(',')) {
    const i = o.indexOf('=');
    if (i > 0) opts.set(o.slice(0, i), unescapeMountinfo(o.slice(i + 1)));
  }
  const lower = opts.get('lowerdir');
  const upperdir = opts.get('upperdir');
  const workdir = opts.get('workdir');
  if (!lower || !upperdir || !workdir) throw new InternalError(`overlay at ${mountPoint} has no lowerdir/upperdir/workdir in its options`);
  return { lowerdirs: lower.split(':'), upperdir, workdir };
}

/** The deepest directory holding every one of `paths`. */
export function commonDir(paths: readonly string[]): string {
  const parts = paths.map((p) => dirname(p).split(sep));
  const first = parts[0] ?? [];
  let k = 0;
  while (k < first.length && parts.every((p) => p[k] === first[k])) k++;
  return first.slice(0, k).join(sep) || sep;
}

/**
 * Remounts the container's overlay rootfs so that its files show with their
 * owners inside the pod's user namespace: overlayfs itself cannot be
 * idmapped, so its lower layers are reached through one idmapped mount of
 * their common directory, and the (new, empty) upper and work dirs are
 * chowned to the pod's root, which writes them. The new overlay is mounted
 * at `<rootDir>/rootfs` and returned: that is the path runc gets, because
 * runc's init mounts the rootfs from inside the user namespace, where it can
 * only pass dirs that others may search (the image store's are 0700), so
 * `rootDir` is 0711 and holds nothing else. The new overlay replaces the
 * old one at `rootfs` too (a bind), so that whatever reads the container's
 * files there sees what it runs on, and the domain's unmount still ends it.
 * `lowersDir` (0700) holds the idmapped layers only while the overlay is
 * mounted: overlayfs keeps private clones of its layers. `relativeBase` is
 * where relative lowerdirs (the image store's short names) are relative to.
 */
export async function idmapRootfs(
  rootfs: string,
  rootDir: string,
  lowersDir: string,
  opts: { binary: string; usernsPath: string; hostRoot: { uid: number; gid: number }; relativeBase: string },
): Promise<string> {
  const layers = overlayLayers(rootfs);
  const absolute = layers.lowerdirs.filter((d) => isAbsolute(d));
  const base = absolute.length === layers.lowerdirs.length ? commonDir(absolute) : opts.relativeBase;
  const rel = layers.lowerdirs.map((d) => (isAbsolute(d) ? relative(base, d) : d));
  if (rel.some((d) => d.startsWith('..'))) throw new InternalError(`overlay at ${rootfs}: lower layers are not all under ${base}`);
  const lowers = join(lowersDir, 'lowers');
  const target = join(rootDir, 'rootfs');
  await mkdir(lowers, { recursive: true, mode: 0o700 });
  await mkdir(rootDir, { recursive: true, mode: 0o711 });
  await chmod(rootDir, 0o711);
  await mkdir(target, { recursive: true, mode: 0o755 });
  await run(opts.binary, ['--userns', opts.usernsPath, base, lowers], { timeoutMs: TIMEOUT_MS });
  try {
    for (const d of [layers.upperdir, layers.workdir, join(layers.workdir, 'work')]) {
      await chown(d, opts.hostRoot.uid, opts.hostRoot.gid).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== 'ENOENT') throw e;
      });
    }
    // Two overlays on one upper dir would be undefined behaviour: the old one goes first.
    await run('umount', [rootfs], { timeoutMs: TIMEOUT_MS });
    const options = `lowerdir=${rel.join(':')},upperdir=${layers.upperdir},workdir=${layers.workdir}`;
    // Relative lowerdirs keep the options within the one page mount(2) takes, as the image store does.
    await run('sh', ['-c', 'cd -- "$1" && shift && exec mount "$@"', 'sh', lowers, '-t', 'overlay', 'overlay', '-o', options, target], { timeoutMs: TIMEOUT_MS });
    await run('mount', ['--bind', target, rootfs], { timeoutMs: TIMEOUT_MS });
  } finally {
    await unmountAll(lowers);
    await rmdir(lowers);
  }
  return target;
}
