// CheckpointContainer for a runc container: `runc checkpoint --leave-running`
// (kubelet's forensic checkpointing: the container keeps running) with the
// CRIU that scripts/setup builds, then one tar archive at the requested
// location in the layout of checkpoint-archive.ts. The work dir beside the
// archive is removed whatever happens, and the archive appears (by rename)
// only once complete, readable by root alone: it holds the processes' memory.

import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { FailedPreconditionError, InternalError } from '../../../common/errors';
import type { CheckpointOptions, ContainerHandle } from '../controller';
import { ARCHIVE_ENTRIES, metadataFromSpec } from './checkpoint-archive';
import { CommandFailedError, run } from './exec-file';
import { decodeContainerData } from './data';
import { overlayLayers } from './staged-mounts';

/** Where scripts/setup installs the CRIU it builds (Debian 12's 3.17 cannot dump on this kernel: docs/checkpoint.md). */
export const CRIU_BINARY = '/usr/local/lib/vmpod/criu';

/** How long a dump may take when the request gives no timeout. */
const DEFAULT_TIMEOUT_S = 300;

export interface RuncCheckpointDeps {
  runcBinary: string;
  runcRoot: string;
  criuBinary?: string;
}

interface SpecView {
  annotations?: Record<string, string>;
  root?: { path?: string };
  process?: { terminal?: boolean };
  linux?: { namespaces?: { type: string }[] };
}

/** Why this container's spec cannot be checkpointed, or null (pure). */
export function checkpointRefusal(id: string, spec: SpecView): string | null {
  if (spec.process?.terminal) return `container ${id} has a terminal (tty: true): CRIU cannot dump conmon's pty; checkpoint a container without tty`;
  if (spec.linux?.namespaces?.some((n) => n.type === 'user')) return `container ${id} runs in a user namespace (hostUsers: false): its idmapped rootfs is not checkpointed yet`;
  if (!spec.root?.path) return `container ${id} has no root path in its spec`;
  return null;
}

/** CRIU's error lines from its log, for the message of a failed dump. */
export function criuErrors(log: string, max = 5): string {
  const lines = log.split('\n').filter((l) => /\bError\b/.test(l) && !/RLIMIT_NOFILE/.test(l));
  return lines
    .slice(-max)
    .map((l) => l.replace(/^\(\s*[\d.]+\)\s*/, ''))
    .join('; ');
}

async function criuVersion(criu: string): Promise<string> {
  if (!existsSync(criu)) throw new FailedPreconditionError(`CRIU is not installed at ${criu} (scripts/setup builds it); checkpoint needs it`);
  const r = await run(criu, ['--version'], { timeoutMs: 10_000 });
  return (/Version: (\S+)/.exec(r.stdout)?.[1] ?? r.stdout.trim()) || 'unknown';
}

export async function checkpointRuncContainer(deps: RuncCheckpointDeps, c: ContainerHandle, opts: CheckpointOptions): Promise<void> {
  const criu = deps.criuBinary ?? CRIU_BINARY;
  const version = await criuVersion(criu);
  const bundle = decodeContainerData(c.data, c.id).bundle;
  const spec = JSON.parse(await readFile(join(bundle, 'config.json'), 'utf8')) as SpecView;
  const refusal = checkpointRefusal(c.id, spec);
  if (refusal) throw new FailedPreconditionError(refusal);
  let upper: string;
  try {
    upper = overlayLayers(spec.root!.path!).upperdir;
  } catch (e) {
    throw new FailedPreconditionError(`container ${c.id}: its rootfs has no writable overlay layer to record (${(e as Error).message})`);
  }

  const timeoutMs = (opts.timeoutS > 0 ? opts.timeoutS : DEFAULT_TIMEOUT_S) * 1000;
  // Beside the archive: same filesystem (the rename below is atomic), and the
  // images are about as large as the archive that will hold them.
  const work = await mkdtemp(join(dirname(opts.location), `.${basename(opts.location)}.vmpod-checkpoint-`));
  const partial = join(work, 'archive.tar');
  try {
    await chmod(work, 0o700);
    const contents = join(work, 'contents');
    const images = join(contents, ARCHIVE_ENTRIES.checkpointDir);
    const r = await run(deps.runcBinary, ['--root', deps.runcRoot, '--criu', criu, 'checkpoint', '--leave-running', '--file-locks', '--image-path', images, '--work-path', contents, c.id], {
      timeoutMs,
      allowFailure: true,
    });
    if (r.code !== 0) {
      const log = await readFile(join(contents, ARCHIVE_ENTRIES.dumpLog), 'utf8').catch(() => '');
      const why = criuErrors(log) || new CommandFailedError([deps.runcBinary, 'checkpoint', c.id], r).message;
      throw new InternalError(`checkpoint of container ${c.id} failed: ${why}`);
    }
    await copyFile(join(bundle, 'config.json'), join(contents, ARCHIVE_ENTRIES.spec));
    await writeFile(join(contents, ARCHIVE_ENTRIES.config), JSON.stringify(metadataFromSpec(c.id, spec, new Date(), version, opts.image)));
    // --xattrs keeps overlayfs' opaque-directory marks; whiteouts are device nodes tar keeps as they are.
    await run('tar', ['--xattrs', '--xattrs-include=trusted.overlay.*', '--numeric-owner', '-C', upper, '-cf', join(contents, ARCHIVE_ENTRIES.rootfsDiff), '.'], { timeoutMs });
    await run('tar', ['--numeric-owner', '-C', contents, '-cf', partial, '.'], { timeoutMs });
    await chmod(partial, 0o600);
    await rename(partial, opts.location);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
