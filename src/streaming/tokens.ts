// The streaming server's outstanding requests, keyed by a random token
// (kubelet's request_cache.go, containerd's 1-minute TTL). A token is taken
// once: a second use, or one after its TTL, finds nothing. The cache is
// bounded; beyond the bound the CRI call is refused with RESOURCE_EXHAUSTED
// rather than growing without limit. No timers: expired entries are swept
// when a token is issued, so closing the cache only drops the map.

import { randomBytes } from 'node:crypto';
import { ResourceExhaustedError } from '../../common/errors';

export interface TokenCacheOptions {
  ttlMs: number;
  max: number;
  /** Milliseconds; injected by tests. */
  now?: () => number;
}

/** 16 random bytes: unguessable, and URL-safe once base64url-encoded. */
const TOKEN_BYTES = 16;

export class TokenCache<T> {
  // A Map iterates in insertion order and every entry has the same TTL, so
  // the oldest entries come first and the sweep can stop at the first live one.
  private readonly entries = new Map<string, { value: T; expiresAt: number }>();
  private readonly now: () => number;

  constructor(private readonly o: TokenCacheOptions) {
    this.now = o.now ?? Date.now;
  }

  get size(): number {
    return this.entries.size;
  }

  insert(value: T): string {
    this.sweep();
    if (this.entries.size >= this.o.max) {
      throw new ResourceExhaustedError(`streaming: ${this.o.max} stream URLs are outstanding (issued, not yet used or expired); retry after some are used or expire`);
    }
    const token = randomBytes(TOKEN_BYTES).toString('base64url');
    this.entries.set(token, { value, expiresAt: this.now() + this.o.ttlMs });
    return token;
  }

  /** The request of a live token, which is used up; undefined for an unknown, used or expired one. */
  take(token: string): T | undefined {
    const e = this.entries.get(token);
    if (!e) return undefined;
    this.entries.delete(token);
    return e.expiresAt > this.now() ? e.value : undefined;
  }

  clear(): void {
    this.entries.clear();
  }

  private sweep(): void {
    const now = this.now();
    for (const [token, e] of this.entries) {
      if (e.expiresAt > now) break;
      this.entries.delete(token);
    }
  }
}
