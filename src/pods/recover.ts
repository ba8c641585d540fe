// Start-up recovery, before the daemon serves. What it assumes:
//
// * Every record write is atomic (store/atomic.ts): a record is the old or
//   the new one, never half of one.
// * A pod or container record is written before any work for it starts, in
//   state "creating" (no controller data), and completed only after every
//   step succeeded. So a record still "creating" at start-up belongs to a call
//   that never answered; kubelet retries with a new attempt. Whatever that
//   call made is removed and the record deleted: the controller purges by id
//   (it names what it makes after the id), the image layer releases the
//   container's rootfs, and the network layer's reconcile tears down the
//   netns of every pod no record knows. Image volume views are released
//   with the container, and those of containers no record knows at all.
//   CreateContainer's first record is the exception to "written durably"
//   (the page cache keeps it across a daemon kill, not a machine crash), so
//   root filesystem leases no record knows are released too.
// * Pods and containers whose create completed kept running while the daemon
//   was down (VMs and conmon outlive it); their controllers reattach lazily,
//   on the first call that needs them, and report what ended meanwhile.
// * Start, stop and remove record their result after the runtime acted, and
//   the runtime's children (runc start, conmon, the VM) finish what they were
//   doing without the daemon. So a record may lag the runtime by one step,
//   never lead it: a retried start of a container recorded created that
//   runs succeeds and records it running (a status alone does not: a
//   reattached VM controller cannot tell started from created); a
//   pod recorded ready whose stop or removal was interrupted is stopped or
//   removed again, each step idempotent.
//
// A purge that fails is logged and retried at the next start; it never stops
// the daemon from serving the pods that are fine.

import type { Logger } from '../log';
import type { Domain } from './domain';

export async function recoverInterrupted(d: Domain): Promise<number> {
  const log = d.log.child({ subsystem: 'recover' });
  let n = 0;
  for (const c of d.containers.list().filter((c) => c.controller === null)) {
    const sb = d.sandboxes.get(c.podSandboxId);
    const ctl = sb ? d.controllers.get(sb.handler) : undefined;
    try {
      await ctl?.purgeInterrupted('container', c.id, log.child({ containerId: c.id }));
      await d.images.releaseVolumes(c.id);
      await d.images.releaseRootfs(c.id);
      d.containers.delete(c.id);
      n++;
    } catch (err) {
      log.error({ containerId: c.id, err: (err as Error).message }, 'could not clean up an interrupted CreateContainer; will retry at next start');
    }
  }
  for (const s of d.sandboxes.list().filter((s) => s.creating)) {
    const ctl = d.controllers.get(s.handler);
    try {
      for (const c of d.containers.list().filter((c) => c.podSandboxId === s.id)) d.containers.delete(c.id);
      await ctl?.purgeInterrupted('sandbox', s.id, log.child({ podSandboxId: s.id }));
      d.sandboxes.delete(s.id);
      n++;
    } catch (err) {
      log.error({ podSandboxId: s.id, err: (err as Error).message }, 'could not clean up an interrupted RunPodSandbox; will retry at next start');
    }
  }
  // A create's first record is not fsynced (container-lifecycle.ts): after a machine crash mid-create its lease may be all that is left.
  n += await releaseUnknown(d, log, 'root filesystem', d.images.rootfsHolders(), (id) => d.images.releaseRootfs(id));
  n += await releaseUnknown(d, log, 'image volumes', d.images.volumeHolders(), (id) => d.images.releaseVolumes(id));
  if (n > 0) log.warn({ count: n }, 'cleaned up creates interrupted by a daemon crash');
  // Networks whose pods no record knows were left by a crash mid-RunPodSandbox.
  await d.network.reconcile(new Set(d.sandboxes.list().map((s) => s.id)));
  return n;
}

/** Release what the image store holds for containers no record knows; a failure is logged and left for the next start. How many were released. */
async function releaseUnknown(d: Domain, log: Logger, what: string, holders: string[], release: (id: string) => Promise<void>): Promise<number> {
  let n = 0;
  for (const id of holders.filter((id) => !d.containers.get(id))) {
    try {
      await release(id);
      n++;
    } catch (err) {
      log.error({ containerId: id, err: (err as Error).message }, `could not release the ${what} of a container no record knows; will retry at next start`);
    }
  }
  return n;
}
