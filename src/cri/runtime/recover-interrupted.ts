// Start-up clean-up of creates that a daemon crash interrupted. A sandbox or
// container record is written before the work starts (state "creating",
// no runtime data) and completed after it; a record still in that state at
// start-up belongs to a call that never answered, so kubelet will retry with
// a new attempt. Whatever the interrupted call made is removed and the record
// deleted. Runs before the network layer's reconcile, which then tears down
// the networks of the pods deleted here.

import type { RuntimeDeps } from './deps';

export async function recoverInterrupted(deps: RuntimeDeps): Promise<number> {
  const log = deps.log.child({ subsystem: 'recover' });
  let n = 0;
  for (const c of deps.containers.list().filter((c) => c.runtime === null)) {
    const sb = deps.sandboxes.get(c.podSandboxId);
    const ctl = sb ? deps.controllers.get(sb.handlerType) : undefined;
    try {
      await ctl?.purgeInterrupted?.('container', c.id, log.child({ containerId: c.id }));
      await deps.images.releaseRootfs(c.id);
      deps.containers.delete(c.id);
      n++;
    } catch (err) {
      log.error({ containerId: c.id, err: (err as Error).message }, 'could not clean up an interrupted CreateContainer; will retry at next start');
    }
  }
  for (const s of deps.sandboxes.list().filter((s) => s.creating)) {
    const ctl = deps.controllers.get(s.handlerType);
    try {
      for (const c of deps.containers.list().filter((c) => c.podSandboxId === s.id)) deps.containers.delete(c.id);
      await ctl?.purgeInterrupted?.('sandbox', s.id, log.child({ podSandboxId: s.id }));
      deps.sandboxes.delete(s.id);
      n++;
    } catch (err) {
      log.error({ podSandboxId: s.id, err: (err as Error).message }, 'could not clean up an interrupted RunPodSandbox; will retry at next start');
    }
  }
  if (n > 0) log.warn({ count: n }, 'cleaned up creates interrupted by a daemon crash');
  return n;
}
