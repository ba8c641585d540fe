import t from 'tap';
import { Registry } from 'prom-client';
import { CachedRead, registerPodCost, toPodCosts, type PodCost, type PodReading } from '../../../src/metrics/pod-cost';

const reading = (id: string, handler: string, cgroup: PodReading['cgroup'], metadata: { name: string; namespace: string } | null = { name: `pod-${id}`, namespace: 'ns' }): PodReading => ({
  pod: { id, handler, config: { metadata } },
  cgroup,
});

t.test('toPodCosts', async (t) => {
  const cases: { desc: string; in: PodReading[]; want: PodCost[] }[] = [
    {
      desc: 'ns → seconds; bytes kept',
      in: [reading('a', 'vm', { cpuUsageNs: 2_500_000_000, memoryRssBytes: 300 << 20, memoryLimitBytes: 512 << 20 })],
      want: [{ podSandboxId: 'a', namespace: 'ns', name: 'pod-a', handler: 'vm', cpuSeconds: 2.5, rssBytes: 300 << 20, memoryLimitBytes: 512 << 20 }],
    },
    { desc: 'a sandbox that could not be read (VM not alive) is left out', in: [reading('b', 'vm', null)], want: [] },
    {
      desc: 'no metadata: empty name labels, not a throw',
      in: [reading('c', 'runc', { cpuUsageNs: 0, memoryRssBytes: 1, memoryLimitBytes: 0 }, null)],
      want: [{ podSandboxId: 'c', namespace: '', name: '', handler: 'runc', cpuSeconds: 0, rssBytes: 1, memoryLimitBytes: 0 }],
    },
  ];
  for (const c of cases) t.same(toPodCosts(c.in), c.want, c.desc);
});

t.test('CachedRead reads once per maxAge and once at a time', async (t) => {
  let now = 0;
  let reads = 0;
  let release: (() => void) | undefined;
  const cached = new CachedRead(
    () => {
      reads++;
      return new Promise<number>((resolve) => (release = () => resolve(reads)));
    },
    1000,
    () => now,
  );
  const a = cached.get();
  const b = cached.get();
  t.equal(reads, 1, 'concurrent gets share one read');
  release!();
  t.same(await Promise.all([a, b]), [1, 1], 'both get its value');
  now = 999;
  t.equal(await cached.get(), 1, 'within maxAge: the cached value');
  t.equal(reads, 1, 'no new read');
  now = 1000;
  const c = cached.get();
  release!();
  t.equal(await c, 2, 'after maxAge: a new read');
});

t.test('CachedRead: a failed read is not cached', async (t) => {
  let fail = true;
  const cached = new CachedRead(async () => {
    if (fail) throw new Error('proc gone');
    return 7;
  }, 60_000);
  await t.rejects(cached.get(), /proc gone/);
  fail = false;
  t.equal(await cached.get(), 7, 'the next scrape reads again');
});

t.test('the cost series at scrape time', async (t) => {
  const registry = new Registry();
  const costs: PodCost[] = [{ podSandboxId: 'a', namespace: 'ns', name: 'web', handler: 'vm', cpuSeconds: 1.5, rssBytes: 1024, memoryLimitBytes: 2048 }];
  let reads = 0;
  registerPodCost(
    registry,
    async () => {
      reads++;
      return costs;
    },
    60_000,
  );
  const text = await registry.metrics();
  const labels = 'pod_sandbox_id="a",namespace="ns",pod="web",handler="vm"';
  t.match(text, `vmpod_pod_sandbox_cpu_seconds_total{${labels}} 1.5`, 'CPU seconds');
  t.match(text, `vmpod_pod_sandbox_memory_rss_bytes{${labels}} 1024`, 'RSS');
  t.match(text, `vmpod_pod_sandbox_memory_limit_bytes{${labels}} 2048`, 'limit');
  t.equal(reads, 1, 'the three metrics share one read');
});
