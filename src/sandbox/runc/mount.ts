// The two mount operations the runc path needs for a pod's /dev/shm.

import { run } from './exec-file';

export async function mountTmpfs(target: string, options: string): Promise<void> {
  await run('mount', ['-t', 'tmpfs', '-o', options, 'shm', target], { timeoutMs: 30_000 });
}

/** Idempotent: an unmounted or missing target is fine. */
export async function unmountIfMounted(target: string): Promise<void> {
  const r = await run('umount', [target], { timeoutMs: 30_000, allowFailure: true });
  if (r.code !== 0 && !/not mounted|no mount point|No such file/i.test(r.stderr)) {
    // Busy: detach it so that removal can go on; the kernel frees it when unused.
    await run('umount', ['-l', target], { timeoutMs: 30_000, allowFailure: true });
  }
}
