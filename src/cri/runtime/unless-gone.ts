// The CRI idempotency rule of Stop/Remove: acting on a pod or container that
// is already gone succeeds. "Gone" covers both an id no record matches and a
// record a concurrent call removed while this one waited for the lock.

import { NotFoundError } from '../../../common/errors';
import type { Identified, RecordStore } from '../../store/record-store';
import type { KeyedLock } from './keyed-lock';

/**
 * Resolve `idOrPrefix` (INVALID_ARGUMENT naming `field` if empty or
 * ambiguous), then run `fn` on the current record under its lock. Does
 * nothing when the record does not exist or is removed before the lock is ours.
 */
export async function unlessGone<T extends Identified>(
  store: RecordStore<T>,
  lock: KeyedLock,
  idOrPrefix: string,
  field: string,
  fn: (current: T) => Promise<void>,
): Promise<void> {
  let id: string;
  try {
    id = store.resolve(idOrPrefix, field).id;
  } catch (err) {
    if (err instanceof NotFoundError) return;
    throw err;
  }
  await lock.run(id, async () => {
    const current = store.get(id);
    if (current) await fn(current);
  });
}
