// What goes into the installer image, as a list of entries per layer, each
// naming its path in the image and where its bytes come from. The lists are
// sorted and carry only what is meant to be there (no owner, no mtime, modes
// reduced to 0755/0644 for files), so the same inputs give the same layers
// whatever the checkout's umask, owner or file times.
//
// Layout of the image (deploy/installer/daemonset.yaml runs it):
//   /bin/busybox and its applets      the shell and tools install.sh uses
//   /lib*, the Node.js binary's libs   so the installer can run `vmpod check`
//   /opt/vmpod-payload/                what install.sh installs (its PAYLOAD)
//     installer/install.sh             the entrypoint

import { lstatSync, readdirSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';
import { join, posix } from 'node:path';

export type ImageEntry =
  | { path: string; kind: 'dir'; mode: number }
  | { path: string; kind: 'file'; mode: number; source: string }
  | { path: string; kind: 'file'; mode: number; content: Buffer }
  | { path: string; kind: 'symlink'; target: string };

/** Where install.sh and its payload live in the image (daemonset.yaml's PAYLOAD). */
export const PAYLOAD_DIR = 'opt/vmpod-payload';

/** A file's mode as the image records it: executable or not, nothing else of the checkout's. */
export function fileMode(stMode: number): number {
  return stMode & 0o111 ? 0o755 : 0o644;
}

/**
 * Entries for the tree at `src`, placed at `dest` (relative, no leading /):
 * directories (0755) before their contents, names in byte order, symlinks as
 * links. `skip(relPath, isDir)` leaves an entry (and a directory's contents) out.
 */
export function treeEntries(src: string, dest: string, skip: (rel: string, isDir: boolean) => boolean = () => false): ImageEntry[] {
  const out: ImageEntry[] = [];
  const walk = (dir: string, rel: string): void => {
    const names = readdirSync(dir).sort((a, b) => (Buffer.from(a) < Buffer.from(b) ? -1 : 1));
    for (const name of names) {
      const abs = join(dir, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(abs);
      if (skip(r, st.isDirectory())) continue;
      const path = posix.join(dest, r);
      if (st.isSymbolicLink()) out.push({ path, kind: 'symlink', target: readlinkSync(abs) });
      else if (st.isDirectory()) {
        out.push({ path, kind: 'dir', mode: 0o755 });
        walk(abs, r);
      } else if (st.isFile()) out.push({ path, kind: 'file', mode: fileMode(st.mode), source: abs });
      else throw new Error(`${abs} is neither a file, a directory nor a symlink: it cannot go into the image`);
    }
  };
  out.push({ path: dest, kind: 'dir', mode: 0o755 });
  walk(src, '');
  return out;
}

/** The parent directories of `path` (relative), outermost first: a/b/c -> a, a/b. */
export function parentDirs(path: string): string[] {
  const parts = path.split('/');
  return parts.slice(0, -1).map((_, i) => parts.slice(0, i + 1).join('/'));
}

/**
 * Put entries in the order a tar needs (each directory before what is in it),
 * adding the parent directories nobody listed, and refuse two different
 * entries for one path.
 */
export function normalise(entries: readonly ImageEntry[]): ImageEntry[] {
  const byPath = new Map<string, ImageEntry>();
  const add = (e: ImageEntry): void => {
    const have = byPath.get(e.path);
    if (have === undefined) byPath.set(e.path, e);
    else if (have.kind !== 'dir' || e.kind !== 'dir') throw new Error(`two entries for ${e.path} in one layer`);
  };
  for (const e of entries) {
    if (e.path === '' || e.path.startsWith('/') || e.path.split('/').includes('..')) throw new Error(`entry path ${JSON.stringify(e.path)} is not relative to the image root`);
    for (const d of parentDirs(e.path)) add({ path: d, kind: 'dir', mode: 0o755 });
    add(e);
  }
  // Byte order of the path components sorts a directory right before its contents.
  const key = (p: string): string => p.split('/').join('\u0000');
  return [...byPath.values()].sort((a, b) => (Buffer.from(key(a.path)) < Buffer.from(key(b.path)) ? -1 : Buffer.from(key(a.path)) > Buffer.from(key(b.path)) ? 1 : 0));
}

interface LockPackage {
  dev?: boolean;
}

/**
 * The production packages' directories under node_modules (relative to the
 * project root, e.g. node_modules/@grpc/grpc-js), from package-lock.json:
 * every package not marked dev. Nested node_modules are their own entries.
 */
export function productionPackages(lockJson: string): string[] {
  const lock = JSON.parse(lockJson) as { packages?: Record<string, LockPackage> };
  if (!lock.packages) throw new Error('package-lock.json has no "packages" (lockfileVersion 2 or 3 is needed)');
  return Object.entries(lock.packages)
    .filter(([k, v]) => k.startsWith('node_modules/') && v.dev !== true)
    .map(([k]) => k)
    .sort();
}

/** node_modules entries of the production packages present in `root` (an optional package absent here is left out). */
export function nodeModulesEntries(root: string, dest: string): ImageEntry[] {
  const out: ImageEntry[] = [];
  for (const pkg of productionPackages(readFileSync(join(root, 'package-lock.json'), 'utf8'))) {
    let isDir: boolean;
    try {
      isDir = lstatSync(join(root, pkg)).isDirectory();
    } catch {
      continue;
    }
    if (!isDir) continue;
    // A package's own node_modules holds nested packages, listed (or not, if dev) on their own.
    out.push(...treeEntries(join(root, pkg), posix.join(dest, pkg), (rel, dir) => dir && (rel === 'node_modules' || rel.endsWith('/node_modules'))));
  }
  return out;
}

/** The shared libraries (resolved to files) and the loader of a dynamic executable, from `ldd`'s output; none for a static one. */
export function parseLdd(output: string): { soname: string; path: string }[] {
  const out: { soname: string; path: string }[] = [];
  for (const line of output.split('\n')) {
    const arrow = /^\s*(\S+) => (\/\S+) \(0x[0-9a-f]+\)$/.exec(line);
    const loader = /^\s*(\/\S+) \(0x[0-9a-f]+\)$/.exec(line);
    if (arrow) out.push({ soname: arrow[2], path: arrow[2] });
    else if (loader) out.push({ soname: loader[1], path: loader[1] });
  }
  return out;
}

/** Entries for the libraries `ldd` listed: each at its path, its bytes from the resolved file (no symlink chains to follow in the image). */
export function libraryEntries(libs: readonly { soname: string; path: string }[]): ImageEntry[] {
  const seen = new Set<string>();
  const out: ImageEntry[] = [];
  for (const l of libs) {
    const path = l.soname.replace(/^\/+/, '');
    if (seen.has(path)) continue;
    seen.add(path);
    out.push({ path, kind: 'file', mode: 0o755, source: realpathSync(l.path) });
  }
  return out;
}
