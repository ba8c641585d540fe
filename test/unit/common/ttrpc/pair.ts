// An in-memory connected Duplex pair that behaves like a socket pair for
// ttRPC: bytes written on one end are read on the other, end() half-closes,
// destroy() closes both ends.

import { Duplex } from 'node:stream';

class End extends Duplex {
  peer!: End;
  _read(): void {}
  _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (!this.peer.destroyed) this.peer.push(chunk);
    cb();
  }
  _final(cb: (err?: Error | null) => void): void {
    if (!this.peer.destroyed) this.peer.push(null);
    cb();
  }
  _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (!this.peer.destroyed) this.peer.destroy();
    cb(err);
  }
}

export function duplexPair(): [Duplex, Duplex] {
  const a = new End();
  const b = new End();
  a.peer = b;
  b.peer = a;
  return [a, b];
}

/** Small deterministic PRNG (mulberry32) so fuzz failures reproduce from the seed. */
export function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const tick = (): Promise<void> => new Promise((r) => setImmediate(r));
