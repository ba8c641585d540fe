// The pod's qcow2 overlay over the image's disk: what the guest writes goes
// there, the image stays pristine. Made at the pod's first CreateContainer
// and kept with the pod: kubelet's restart of the container (a new container
// id, attempt + 1) boots the same overlay again, unless the container's
// image changed, in which case the old overlay is thrown away with the old
// image. RemovePodSandbox deletes it with the pod dir.
//
// qemu-img makes it with -u: it writes only the new file and never opens the
// base, which is untrusted input. QEMU later gets base and overlay as fds and
// the base explicitly as the overlay's backing (hypervisor VmDisk.backing):
// the backing name written into the overlay here is never followed.

import { readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runOk } from '../../network/run';

export const OVERLAY_FILE = 'overlay.qcow2';
export const OVERLAY_RECORD = 'overlay.json';
const RECORD_VERSION = 1;

/** What the overlay lies over: the image (by id), the disk in it, and its format and size. */
export interface OverlayBase {
  /** The image's identity: its id, which changes with any layer. */
  imageKey: string;
  diskName: string;
  format: 'qcow2' | 'raw';
  virtualSize: number;
}

export interface OverlayRecord extends OverlayBase {
  v: typeof RECORD_VERSION;
  /** The container name (CRI metadata.name) the pod's VM runs as: a VM-image pod has one. */
  containerName: string;
}

export type OverlayPlan = 'create' | 'reuse' | 'replace';

/** What to do with the pod's overlay for a container over `base`. Pure. */
export function overlayPlan(existing: OverlayRecord | undefined, overlayPresent: boolean, base: OverlayBase): OverlayPlan {
  if (!existing || !overlayPresent) return overlayPresent ? 'replace' : 'create';
  const same = existing.imageKey === base.imageKey && existing.diskName === base.diskName && existing.format === base.format && existing.virtualSize === base.virtualSize;
  return same ? 'reuse' : 'replace';
}

/** The record in the pod dir, decoded defensively (a bad one is as good as none: the overlay is made afresh). Pure. */
export function decodeOverlayRecord(text: string): OverlayRecord | undefined {
  try {
    const r = JSON.parse(text) as Partial<OverlayRecord>;
    if (r.v !== RECORD_VERSION) return undefined;
    if (typeof r.imageKey !== 'string' || typeof r.diskName !== 'string' || typeof r.containerName !== 'string') return undefined;
    if ((r.format !== 'qcow2' && r.format !== 'raw') || typeof r.virtualSize !== 'number' || !Number.isSafeInteger(r.virtualSize) || r.virtualSize <= 0) return undefined;
    return { v: RECORD_VERSION, imageKey: r.imageKey, diskName: r.diskName, format: r.format, virtualSize: r.virtualSize, containerName: r.containerName };
  } catch {
    return undefined;
  }
}

export async function readOverlayRecord(podDir: string): Promise<OverlayRecord | undefined> {
  const text = await readFile(join(podDir, OVERLAY_RECORD), 'utf8').catch(() => '');
  return text ? decodeOverlayRecord(text) : undefined;
}

/**
 * The pod's overlay for a container over `basePath`: reused, made, or
 * remade; returns its path and what was done. The record is written after
 * the overlay, so a crash in between leaves an overlay without a record,
 * which the next container replaces.
 */
export async function prepareOverlay(podDir: string, basePath: string, base: OverlayBase, containerName: string): Promise<{ path: string; plan: OverlayPlan }> {
  const path = join(podDir, OVERLAY_FILE);
  const present = await stat(path).then(
    (s) => s.isFile(),
    () => false,
  );
  const plan = overlayPlan(await readOverlayRecord(podDir), present, base);
  if (plan === 'reuse') return { path, plan };
  await rm(join(podDir, OVERLAY_RECORD), { force: true });
  await rm(path, { force: true });
  const tmp = join(podDir, `${OVERLAY_FILE}.tmp`);
  await rm(tmp, { force: true });
  await runOk('create the pod overlay', ['qemu-img', 'create', '-q', '-f', 'qcow2', '-F', base.format, '-b', basePath, '-u', tmp, String(base.virtualSize)]);
  await rename(tmp, path);
  const rec: OverlayRecord = { v: RECORD_VERSION, ...base, containerName };
  await writeFile(join(podDir, `${OVERLAY_RECORD}.tmp`), JSON.stringify(rec), { mode: 0o600 });
  await rename(join(podDir, `${OVERLAY_RECORD}.tmp`), join(podDir, OVERLAY_RECORD));
  return { path, plan };
}
