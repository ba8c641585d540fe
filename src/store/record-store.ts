// A persistent map of records keyed by id, one JSON file per record under
// `<dir>/<id>.json`. The sandbox and container stores are instances; image
// records and rootfs leases use their own JsonDir (src/image/image-store.ts).
//
// Assumptions that make restart safe:
// * every write goes through writeJsonAtomic, so a file is either the old or
//   the new record, never half of one;
// * a record that cannot be parsed (disk corruption, a bug in an old version)
//   is moved to `<dir>/corrupt/` and logged, never crashes start-up;
// * temp files left by a daemon killed mid-write are deleted by load().
//
// Records are replaced, never mutated in place: `update(id, fn)` hands the
// current record to `fn` and persists what it returns, so readers holding an
// old object never see a half-applied change.

import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { AlreadyExistsError, InvalidArgumentError, NotFoundError } from '../../common/errors';
import type { Logger } from '../log';
import { writeJsonAtomic } from './atomic';
import { outOfSpaceError } from './out-of-space';
import { quarantineRecord, readRecordDir } from './record-dir';

export interface Identified {
  readonly id: string;
}

const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

function defaultDecode<T extends Identified>(v: unknown): T {
  if (typeof (v as T)?.id !== 'string') throw new Error('record has no string "id"');
  return v as T;
}

export class RecordStore<T extends Identified> {
  private readonly records = new Map<string, T>();

  /**
   * @param kind human name used in errors ("pod sandbox", "container")
   * @param decode turns what was read from disk (written by this or an
   *   earlier version) into today's record; throws when it cannot
   */
  constructor(
    readonly dir: string,
    readonly kind: string,
    private readonly log: Logger,
    private readonly decode: (value: unknown) => T = defaultDecode<T>,
  ) {}

  /** Read every record from disk; returns how many were loaded. */
  load(): number {
    this.records.clear();
    readRecordDir(
      this.dir,
      (name, value) => {
        const record = this.decode(value);
        if (`${record.id}.json` !== name) throw new Error(`record id "${record.id}" does not match its file name`);
        this.records.set(record.id, Object.freeze(record));
      },
      (name, err) => quarantineRecord(this.dir, name, err, this.log, this.kind),
    );
    return this.records.size;
  }

  get(id: string): T | undefined {
    return this.records.get(id);
  }

  list(): T[] {
    return [...this.records.values()];
  }

  /** Exact id or a unique prefix of one (as crictl lets users type), else NotFound. */
  resolve(idOrPrefix: string, field = 'id'): T {
    if (!idOrPrefix) throw new InvalidArgumentError(field, 'is required');
    const exact = this.records.get(idOrPrefix);
    if (exact) return exact;
    const matches = this.list().filter((r) => r.id.startsWith(idOrPrefix));
    if (matches.length === 1) return matches[0];
    if (matches.length > 1) throw new InvalidArgumentError(field, `"${idOrPrefix}" is ambiguous: matches ${matches.length} ${this.kind}s`);
    throw new NotFoundError(this.kind, idOrPrefix);
  }

  /** `durable: false` only for a record a later durable update completes (atomic.ts WriteOptions says what it gives up). */
  create(record: T, opts: { durable?: boolean } = {}): T {
    if (!ID_PATTERN.test(record.id)) throw new InvalidArgumentError('id', `"${record.id}" is not a valid ${this.kind} id`);
    if (this.records.has(record.id)) throw new AlreadyExistsError(this.kind, record.id);
    const frozen = Object.freeze({ ...record });
    this.write(frozen, opts.durable ?? true);
    this.records.set(record.id, frozen);
    return frozen;
  }

  update(id: string, fn: (current: T) => T): T {
    const current = this.records.get(id);
    if (!current) throw new NotFoundError(this.kind, id);
    const next = Object.freeze({ ...fn(current), id });
    this.write(next, true);
    this.records.set(id, next);
    return next;
  }

  /** Idempotent: deleting an absent record is not an error. */
  delete(id: string): void {
    rmSync(this.path(id), { force: true });
    this.records.delete(id);
  }

  /** A failed write leaves the record as it was, on disk and in memory; a full disk is said as the record that could not be written. */
  private write(record: T, durable: boolean): void {
    try {
      writeJsonAtomic(this.path(record.id), record, { durable });
    } catch (err) {
      throw outOfSpaceError(err, `cannot write the record of ${this.kind} ${record.id} in ${this.dir}: no space left`) ?? err;
    }
  }

  private path(id: string): string {
    return join(this.dir, `${id}.json`);
  }
}
