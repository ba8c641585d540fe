// Content-addressed blob store: `<root>/blobs/sha256/<hex>`. A blob enters
// only through `ingest`/`putVerified`, which write under `<root>/ingest/`,
// check size and sha256 against the descriptor, fsync, and rename into
// place; so a blob file that exists is always complete and correct. Partial
// downloads of a killed daemon stay in `ingest/` and `sweep()` removes them.

import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { FailedPreconditionError, ResourceExhaustedError } from '../../common/errors';
import { DIGEST } from './reference';

export class DigestMismatchError extends FailedPreconditionError {}

export class ContentStore {
  readonly blobsDir: string;
  readonly ingestDir: string;

  constructor(root: string) {
    this.blobsDir = join(root, 'blobs', 'sha256');
    this.ingestDir = join(root, 'ingest');
  }

  async init(): Promise<void> {
    await mkdir(this.blobsDir, { recursive: true, mode: 0o700 });
    await mkdir(this.ingestDir, { recursive: true, mode: 0o700 });
  }

  /** Remove partial downloads left by a daemon that was killed mid-pull. */
  async sweep(): Promise<string[]> {
    const names = await readdir(this.ingestDir).catch(() => [] as string[]);
    await Promise.all(names.map((n) => rm(join(this.ingestDir, n), { recursive: true, force: true })));
    return names;
  }

  path(digest: string): string {
    if (!DIGEST.test(digest)) throw new FailedPreconditionError(`not a sha256 digest: ${digest}`);
    return join(this.blobsDir, digest.slice('sha256:'.length));
  }

  async has(digest: string, size?: number): Promise<boolean> {
    try {
      const st = await stat(this.path(digest));
      return size === undefined || st.size === size;
    } catch {
      return false;
    }
  }

  async read(digest: string): Promise<Buffer> {
    return readFile(this.path(digest));
  }

  async size(digest: string): Promise<number> {
    return (await stat(this.path(digest))).size;
  }

  async list(): Promise<string[]> {
    const names = await readdir(this.blobsDir).catch(() => [] as string[]);
    return names.filter((n) => /^[a-f0-9]{64}$/.test(n)).map((n) => `sha256:${n}`);
  }

  async delete(digest: string): Promise<void> {
    await rm(this.path(digest), { force: true });
  }

  /** Store bytes already in memory (manifests, configs) after checking them. */
  async putVerified(digest: string, size: number | undefined, bytes: Buffer, what: string): Promise<void> {
    verifyBytes(digest, size, bytes, what);
    if (await this.has(digest, bytes.length)) return;
    const tmp = join(this.ingestDir, `${digest.slice(7)}-${randomBytes(4).toString('hex')}`);
    const fh = await open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(bytes);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, this.path(digest));
  }

  /**
   * Stream a blob in, verifying it. `onProgress` is told the bytes so far.
   * On any failure, `signal`'s abort included, the partial file is deleted
   * and nothing is stored.
   */
  async ingest(digest: string, size: number, body: Readable, what: string, onProgress?: (bytes: number) => void, signal?: AbortSignal): Promise<void> {
    const tmp = join(this.ingestDir, `${digest.slice(7)}-${randomBytes(4).toString('hex')}`);
    const hash = createHash('sha256');
    let seen = 0;
    const check = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        seen += chunk.length;
        if (seen > size) {
          cb(new DigestMismatchError(`${what}: the registry sent more than the ${size} bytes its descriptor declares`));
          return;
        }
        hash.update(chunk);
        onProgress?.(seen);
        cb(null, chunk);
      },
    });
    try {
      // Opened before the pipeline runs: an abort must never race the file's creation past the rm below.
      const out = (await open(tmp, 'w', 0o600)).createWriteStream();
      await pipeline(body, check, out, ...(signal ? [{ signal }] : []));
      if (seen !== size) throw new DigestMismatchError(`${what}: received ${seen} bytes, the descriptor declares ${size}`);
      const got = `sha256:${hash.digest('hex')}`;
      if (got !== digest) throw new DigestMismatchError(`${what}: content digest is ${got}, expected ${digest}; the registry or a proxy corrupted it — nothing was stored`);
      signal?.throwIfAborted();
      const fh = await open(tmp, 'r');
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, this.path(digest));
    } catch (err) {
      body.destroy();
      await rm(tmp, { force: true });
      throw err;
    }
  }
}

export function sha256(bytes: Buffer | string): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

export function verifyBytes(digest: string, size: number | undefined, bytes: Buffer, what: string): void {
  if (size !== undefined && bytes.length !== size) throw new DigestMismatchError(`${what}: ${bytes.length} bytes, the descriptor declares ${size}`);
  const got = sha256(bytes);
  if (got !== digest) throw new DigestMismatchError(`${what}: content digest is ${got}, expected ${digest}`);
}

export const MAX_BLOB_BYTES = 64 * 2 ** 30;

export function checkBlobSize(size: number, what: string): void {
  if (size > MAX_BLOB_BYTES) throw new ResourceExhaustedError(`${what}: ${size} bytes is more than the ${MAX_BLOB_BYTES}-byte limit for one layer`);
}
