// The first half of restoring a runc container from a checkpoint archive
// (docs/checkpoint.md): the archive read for the image it lies over, checked
// and unpacked, and its rootfs diff put into a new container's writable
// layer. What remains of a restore (the bundle, `runc restore` under conmon)
// belongs to container creation and start (container.ts).

import { statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidArgumentError, NotFoundError } from '../../../common/errors';
import type { CheckpointSource } from '../controller';
import { ARCHIVE_ENTRIES, missingEntries, parseMetadata, type CheckpointMetadata } from './checkpoint-archive';
import { run } from './exec-file';

const TIMEOUT_MS = 300_000;

export interface UnpackedCheckpoint {
  metadata: CheckpointMetadata;
  /** The container's OCI spec when it was checkpointed (spec.dump). */
  spec: Record<string, unknown>;
  /** CRIU's images, for `runc restore --image-path`. */
  imagesDir: string;
  /** rootfs-diff.tar, for extractRootfsDiff. */
  rootfsDiff: string;
}

/** Checks that `archive` is a file holding the layout: NOT_FOUND when there is none, INVALID_ARGUMENT naming what it lacks. */
async function checkListing(archive: string): Promise<void> {
  const st = statSync(archive, { throwIfNoEntry: false });
  if (!st) throw new NotFoundError('checkpoint archive', archive, 'CreateContainer of an absolute path restores the checkpoint archive there');
  if (!st.isFile()) throw new InvalidArgumentError('image', `${archive} is not a file: not a checkpoint archive`);
  const listed = await run('tar', ['-tf', archive], { timeoutMs: TIMEOUT_MS, allowFailure: true });
  if (listed.code !== 0) throw new InvalidArgumentError('image', `${archive} is not a tar archive: ${listed.stderr.trim()}`);
  const missing = missingEntries(listed.stdout.split('\n').filter(Boolean));
  if (missing.length > 0) throw new InvalidArgumentError('image', `${archive} is not a checkpoint archive: it has no ${missing.join(', ')}`);
}

/** The image a checkpoint archive's container ran, from its config.dump alone (the images are not read). */
export async function readCheckpointSource(archive: string): Promise<CheckpointSource> {
  await checkListing(archive);
  const r = await run('tar', ['-xOf', archive, `./${ARCHIVE_ENTRIES.config}`], { timeoutMs: TIMEOUT_MS, allowFailure: true });
  const config = r.code === 0 ? r.stdout : (await run('tar', ['-xOf', archive, ARCHIVE_ENTRIES.config], { timeoutMs: TIMEOUT_MS })).stdout;
  const m = parseMetadata(config, archive);
  if (!m.image) throw new InvalidArgumentError('image', `${archive} does not record the image its container ran (an archive from before restore existed): it cannot be restored`);
  return { image: m.image };
}

/** Checks that `archive` is a checkpoint archive (INVALID_ARGUMENT naming it and what it lacks) and unpacks it into `dir`. */
export async function unpackCheckpoint(archive: string, dir: string): Promise<UnpackedCheckpoint> {
  await checkListing(archive);
  await run('tar', ['--numeric-owner', '-C', dir, '-xf', archive], { timeoutMs: TIMEOUT_MS });
  const metadata = parseMetadata(await readFile(join(dir, ARCHIVE_ENTRIES.config), 'utf8'), archive);
  let spec: unknown;
  try {
    spec = JSON.parse(await readFile(join(dir, ARCHIVE_ENTRIES.spec), 'utf8'));
  } catch {
    throw new InvalidArgumentError('image', `${archive}: ${ARCHIVE_ENTRIES.spec} is not JSON`);
  }
  if (!spec || typeof spec !== 'object') throw new InvalidArgumentError('image', `${archive}: ${ARCHIVE_ENTRIES.spec} is not an OCI spec`);
  return { metadata, spec: spec as Record<string, unknown>, imagesDir: join(dir, ARCHIVE_ENTRIES.checkpointDir), rootfsDiff: join(dir, ARCHIVE_ENTRIES.rootfsDiff) };
}

/** Extracts a rootfs diff into an (empty) overlay upper dir: whiteouts and opaque marks come back as overlayfs reads them. */
export async function extractRootfsDiff(rootfsDiff: string, upper: string): Promise<void> {
  await run('tar', ['--xattrs', '--xattrs-include=trusted.overlay.*', '--numeric-owner', '-C', upper, '-xf', rootfsDiff], { timeoutMs: TIMEOUT_MS });
}
