// The layout of a runc container's checkpoint archive (CheckpointContainer),
// the one CRI-O writes so that its tools (checkpointctl) and its restore
// read ours: a plain tar whose top level holds
//   checkpoint/        CRIU's image files (runc checkpoint --image-path), with runc's descriptors.json
//   spec.dump          the container's OCI runtime spec (the bundle's config.json)
//   config.dump        CheckpointMetadata below, as JSON
//   rootfs-diff.tar    the container's writable layer: its overlay upper directory as it is
//                      (deletions are overlayfs whiteouts: 0/0 character devices)
//   dump.log           CRIU's log of the dump, for when a restore fails
// Pure: names and the metadata's encoding, unit-tested without runc.

import { InvalidArgumentError } from '../../../common/errors';

export const ARCHIVE_ENTRIES = {
  checkpointDir: 'checkpoint',
  spec: 'spec.dump',
  config: 'config.dump',
  rootfsDiff: 'rootfs-diff.tar',
  dumpLog: 'dump.log',
} as const;

/** What config.dump holds: the container as CRI saw it, for a restore and for `checkpointctl show`. */
export interface CheckpointMetadata {
  /** This layout's version (vmpod's; CRI-O's config.dump has no version). */
  vmpodCheckpointVersion: 1;
  id: string;
  name: string;
  podSandboxId: string;
  runtime: 'runc';
  /** RFC 3339. */
  checkpointedTime: string;
  /** CRIU's `--version` line that made the images (a restore needs the same or newer). */
  criuVersion: string;
  /** The image the container ran (its record's ref as asked, and the image id): a restore's lower layers. */
  image?: { ref: string; id: string };
}

const CURRENT_VERSION = 1;

/** The metadata from the spec annotations vmpod writes (src/oci/container-spec.ts). */
export function metadataFromSpec(id: string, spec: { annotations?: Record<string, string> }, now: Date, criuVersion: string, image?: { ref: string; id: string }): CheckpointMetadata {
  const a = spec.annotations ?? {};
  return {
    ...(image && { image: { ref: image.ref, id: image.id } }),
    vmpodCheckpointVersion: CURRENT_VERSION,
    id,
    name: a['io.kubernetes.cri.container-name'] ?? '',
    podSandboxId: a['io.kubernetes.cri.sandbox-id'] ?? '',
    runtime: 'runc',
    checkpointedTime: now.toISOString(),
    criuVersion,
  };
}

/** config.dump of an archive, checked: INVALID_ARGUMENT naming the archive when it is not one of ours. */
export function parseMetadata(text: string, archive: string): CheckpointMetadata {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new InvalidArgumentError('image', `${archive}: ${ARCHIVE_ENTRIES.config} is not JSON: not a checkpoint archive`);
  }
  const m = v as Partial<CheckpointMetadata> | null;
  if (!m || typeof m !== 'object') throw new InvalidArgumentError('image', `${archive}: ${ARCHIVE_ENTRIES.config} is not an object: not a checkpoint archive`);
  if (m.vmpodCheckpointVersion !== CURRENT_VERSION) throw new InvalidArgumentError('image', `${archive}: checkpoint layout version ${String(m.vmpodCheckpointVersion)} is not ${CURRENT_VERSION}`);
  for (const f of ['id', 'name', 'podSandboxId', 'checkpointedTime', 'criuVersion'] as const) {
    if (typeof m[f] !== 'string') throw new InvalidArgumentError('image', `${archive}: ${ARCHIVE_ENTRIES.config} has no string "${f}"`);
  }
  if (m.image !== undefined && (typeof m.image !== 'object' || m.image === null || typeof m.image.ref !== 'string' || typeof m.image.id !== 'string')) {
    throw new InvalidArgumentError('image', `${archive}: ${ARCHIVE_ENTRIES.config} has an "image" without string ref and id`);
  }
  if (m.runtime !== 'runc') throw new InvalidArgumentError('image', `${archive}: checkpoint of runtime ${String(m.runtime)}, not runc`);
  return m as CheckpointMetadata;
}

/** The entries an archive must hold for a restore (what `tar -t` lists, "./" prefixes removed). */
export function missingEntries(listing: readonly string[]): string[] {
  const names = new Set(listing.map((n) => n.replace(/^\.\//, '').replace(/\/$/, '')));
  const need = [ARCHIVE_ENTRIES.spec, ARCHIVE_ENTRIES.config, ARCHIVE_ENTRIES.rootfsDiff, `${ARCHIVE_ENTRIES.checkpointDir}/inventory.img`, `${ARCHIVE_ENTRIES.checkpointDir}/descriptors.json`];
  return need.filter((n) => !names.has(n));
}
