// The two mount operations the runc path needs for a pod's /dev/shm: mount(2)
// and umount2(2) from the daemon (host/mount-calls.ts: a tmpfs never waits
// on a disk), mount(8) and umount(8) where the native addon is not built.

import { mountDirect, unmountDirect } from '../../host/mount-calls';
import { run } from './exec-file';

export async function mountTmpfs(target: string, options: string): Promise<void> {
  if (mountDirect('shm', target, 'tmpfs', options)) return;
  await run('mount', ['-t', 'tmpfs', '-o', options, 'shm', target], { timeoutMs: 30_000 });
}

/** Idempotent: an unmounted or missing target is fine. */
export async function unmountIfMounted(target: string): Promise<void> {
  if (unmountDirect(target)) return;
  const r = await run('umount', [target], { timeoutMs: 30_000, allowFailure: true });
  if (r.code !== 0 && !/not mounted|no mount point|No such file/i.test(r.stderr)) {
    // Busy: detach it so that removal can go on; the kernel frees it when unused.
    await run('umount', ['-l', target], { timeoutMs: 30_000, allowFailure: true });
  }
}
