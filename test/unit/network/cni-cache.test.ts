import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { CniCache, type CniCacheEntry } from '../../../src/network/cni-cache';

t.test('cache round trip', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-cnicache-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const cache = new CniCache(join(dir, 'network'));
  t.same(cache.list(), [], 'missing dir lists nothing');
  t.equal(cache.load('p1'), undefined, 'missing entry');
  const entry: CniCacheEntry = {
    version: 1,
    podId: 'p1',
    netnsPath: '/run/x/p1',
    ifName: 'eth0',
    args: 'A=1',
    config: { cniVersion: '1.0.0', name: 'n', plugins: [{ type: 'bridge' }] },
    runtimeConfig: {},
    result: null,
  };
  cache.save(entry);
  t.same(cache.load('p1'), entry, 'pending entry (result null) persisted');
  cache.save({ ...entry, result: { ips: [] } });
  t.same(new CniCache(join(dir, 'network')).load('p1')?.result, { ips: [] }, 'a new instance reads it (restart)');
  writeFileSync(join(dir, 'network', '.p2.json.tmp-123'), '{');
  writeFileSync(join(dir, 'network', 'p3.json'), '{"version":1,"podId":"other"}');
  t.same(cache.list().sort(), ['p1', 'p3'], 'temp files are not entries');
  t.equal(cache.load('p3'), undefined, 'an entry for another pod id is ignored');
  cache.remove('p1');
  cache.remove('p1');
  t.equal(cache.load('p1'), undefined, 'removed (twice is fine)');
});
