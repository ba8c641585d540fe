// The token cache: single use, expiry by an injected clock, the bound.

import t from 'tap';
import { ResourceExhaustedError } from '../../../common/errors';
import { TokenCache } from '../../../src/streaming/tokens';

function cache(max = 3) {
  const clock = { now: 0 };
  return { clock, c: new TokenCache<string>({ ttlMs: 60_000, max, now: () => clock.now }) };
}

t.test('a token is used once', async (t) => {
  const { c } = cache();
  const tok = c.insert('exec');
  t.match(tok, /^[A-Za-z0-9_-]{22}$/, '16 random bytes, URL-safe');
  t.equal(c.take(tok), 'exec');
  t.equal(c.take(tok), undefined, 'the second use finds nothing');
  t.equal(c.take('nonsense'), undefined);
});

t.test('a token expires after the TTL', async (t) => {
  const { c, clock } = cache();
  const a = c.insert('a');
  const b = c.insert('b');
  clock.now = 59_999;
  t.equal(c.take(a), 'a', 'valid just before the TTL');
  clock.now = 60_000;
  t.equal(c.take(b), undefined, 'gone at the TTL');
  t.equal(c.size, 0, 'and forgotten');
});

t.test('beyond the bound: RESOURCE_EXHAUSTED, until some expire', async (t) => {
  const { c, clock } = cache(2);
  c.insert('a');
  clock.now = 10_000;
  c.insert('b');
  t.throws(() => c.insert('c'), ResourceExhaustedError);
  clock.now = 60_000;
  t.ok(c.insert('c'), 'the expired first one made room');
  t.equal(c.size, 2);
  c.clear();
  t.equal(c.size, 0);
});

t.test('tokens differ', async (t) => {
  const { c } = cache(100);
  const seen = new Set(Array.from({ length: 100 }, (_, i) => c.insert(String(i))));
  t.equal(seen.size, 100);
});
