// Saving a VM's state to a file and resuming another VM from it, for VM
// templates (src/sandbox/microvm/template.ts). It is QEMU's migration to and
// from a file descriptor with `x-ignore-shared`: RAM in a shared file
// backend (the template's guest RAM, the NVDIMM rootfs) is not copied into
// the stream, so the state holds the devices and vCPUs only (~200 KiB) and
// a restore maps the RAM file instead of reading it. QEMU runs under
// `-sandbox spawn=deny` and in a jail without the daemon's files, so it
// opens nothing itself: the daemon opens the state file and passes the fd
// over QMP (getfd).

import { constants as fsc, openSync } from 'node:fs';
import { DeadlineExceededError, InternalError } from '../../../common/errors';
import { sleep } from '../../../common/time';
import type { QmpClient } from './qmp';

/** The name the state file's fd gets in QEMU (getfd), for `migrate fd:` and `migrate-incoming fd:`. */
const STATE_FD_NAME = 'vmpod-state';

interface MigrationStatus {
  status?: string;
  'error-desc'?: string;
}

/** What query-migrate's answer means for a migration under way: done, failed (with why), or still going. Pure. */
export function migrationOutcome(r: MigrationStatus): { done: true } | { failed: string } | { going: true } {
  if (r.status === 'completed') return { done: true };
  if (r.status === 'failed' || r.status === 'cancelled') return { failed: r['error-desc'] ?? r.status };
  return { going: true };
}

async function waitForMigration(qmp: QmpClient, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const o = migrationOutcome(await qmp.execute<MigrationStatus>('query-migrate'));
    if ('done' in o) return;
    if ('failed' in o) throw new InternalError(`${what} failed: ${o.failed}`);
    if (Date.now() > deadline) {
      await qmp.execute('migrate_cancel').catch(() => undefined);
      throw new DeadlineExceededError(`${what} did not finish within ${Math.round(timeoutMs / 1000)} s`);
    }
    await sleep(20);
  }
}

const IGNORE_SHARED = { capabilities: [{ capability: 'x-ignore-shared', state: true }] };

/** Stop the vCPUs and write the VM's device and vCPU state to `file` (created 0600, replaced if there). The VM stays stopped. */
export async function saveVmState(qmp: QmpClient, file: string, timeoutMs = 60_000): Promise<void> {
  await qmp.execute('stop');
  await qmp.execute('migrate-set-capabilities', IGNORE_SHARED);
  const fd = openSync(file, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_TRUNC | fsc.O_NOFOLLOW, 0o600);
  // executeWithFd closes our copy once sent.
  await qmp.executeWithFd('getfd', { fdname: STATE_FD_NAME }, fd);
  await qmp.execute('migrate', { uri: `fd:${STATE_FD_NAME}` });
  await waitForMigration(qmp, `saving the VM state to ${file}`, timeoutMs);
}

/**
 * Feed a VM started with `-incoming defer` (VmConfig.restoreFrom) its saved
 * state. Resolves once QEMU has loaded it. The VM is then paused, as the
 * saved one was when it was saved: `cont` runs it.
 */
export async function restoreVmState(qmp: QmpClient, file: string, timeoutMs = 60_000): Promise<void> {
  await qmp.execute('migrate-set-capabilities', IGNORE_SHARED);
  let fd: number;
  try {
    fd = openSync(file, fsc.O_RDONLY | fsc.O_NOFOLLOW);
  } catch (err) {
    throw new InternalError(`the saved VM state ${file} cannot be opened: ${(err as Error).message}`, { cause: err });
  }
  // Sent or not, executeWithFd closes our copy.
  await qmp.executeWithFd('getfd', { fdname: STATE_FD_NAME }, fd);
  await qmp.execute('migrate-incoming', { uri: `fd:${STATE_FD_NAME}` });
  await waitForMigration(qmp, `restoring the VM state from ${file}`, timeoutMs);
}
