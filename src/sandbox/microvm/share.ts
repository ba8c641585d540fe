// Host-side mounts of a VM pod's 9p share (layout.ts explains the layout):
// the read-only bind that is exported, and per container the rootfs and
// CRI mounts mounted onto mount points inside it. Everything is done with
// util-linux mount/umount so that the daemon needs no native mount code.

import { execFile } from 'node:child_process';
import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { InternalError } from '../../errors';

const exec = promisify(execFile);

async function mountCmd(what: string, args: string[]): Promise<void> {
  try {
    await exec('mount', args, { timeout: 30_000 });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new InternalError(`${what}: mount ${args.join(' ')} failed: ${(e.stderr || e.message).trim()}`, { cause: err });
  }
}

/** Mount points at or below `dir`, deepest first (from /proc/self/mountinfo). */
export function mountsUnder(dir: string, mountinfo = readFileSync('/proc/self/mountinfo', 'utf8')): string[] {
  const unescape = (s: string): string => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  return mountinfo
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((m): m is string => m !== undefined)
    .map(unescape)
    .filter((m) => m === dir || m.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
}

/** Unmount everything at or below `dir` (lazily, so a busy 9p server cannot wedge pod removal). Idempotent. */
export async function unmountAll(dir: string): Promise<void> {
  for (const m of mountsUnder(dir)) {
    try {
      await exec('umount', ['--lazy', m], { timeout: 30_000 });
    } catch (err) {
      // Gone meanwhile is fine; anything still mounted is an error the caller must see.
      if (mountsUnder(m).includes(m)) throw new InternalError(`cannot unmount ${m}: ${((err as { stderr?: string }).stderr ?? '').trim()}`, { cause: err });
    }
  }
}

/** The exported share: `shared` becomes a private, read-only bind of `shareSource`. */
export async function mountShare(shareSource: string, shared: string): Promise<void> {
  await mkdir(shareSource, { recursive: true, mode: 0o755 });
  await mkdir(shared, { recursive: true, mode: 0o755 });
  await mountCmd('pod share', ['--bind', shareSource, shared]);
  // Private: mounts made below it must not propagate into the host's tree (or back).
  await mountCmd('pod share', ['--make-private', shared]);
  await mountCmd('pod share', ['-o', 'remount,bind,ro', shared]);
}

/** Create `rel` in the share source as an empty dir or file, the mount point for `source`'s kind. */
export async function makeMountPoint(shareSource: string, rel: string, source: string): Promise<void> {
  const target = join(shareSource, rel);
  let isDir = true;
  try {
    isDir = (await stat(source)).isDirectory();
  } catch (err) {
    throw new InternalError(`mount source ${source} is not accessible: ${(err as Error).message}`, { cause: err });
  }
  if (isDir) {
    await mkdir(target, { recursive: true, mode: 0o755 });
  } else {
    await mkdir(dirname(target), { recursive: true, mode: 0o755 });
    await writeFile(target, '', { mode: 0o644 });
  }
}

/** Bind `source` onto the mount point `target` (inside the exported share), read-only if asked. */
export async function bindInto(source: string, target: string, readonly: boolean): Promise<void> {
  await mountCmd(`share ${source}`, ['--rbind', source, target]);
  await mountCmd(`share ${source}`, ['--make-rprivate', target]);
  if (readonly) await mountCmd(`share ${source} read-only`, ['-o', 'remount,bind,ro', target]);
}

/** Unmount everything below `dirInShared` and delete its mount points in the share source. Idempotent. */
export async function releaseDir(dirInShared: string, dirInSource: string): Promise<void> {
  await unmountAll(dirInShared);
  await rm(dirInSource, { recursive: true, force: true });
}
