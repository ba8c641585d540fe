// `vmpod overhead` over the admin socket: the request and its checks, the
// daemon's two readings (PodsView with a fake podMetrics), the printout and
// the CLI's arguments.

import t from 'tap';
import { InvalidArgumentError } from '../../../common/errors';
import { formatOverhead } from '../../../src/admin/format';
import { PodsView } from '../../../src/admin/pods-view';
import { DEFAULT_OVERHEAD_INTERVAL_MS, parseRequest } from '../../../src/admin/protocol';
import { parseDebugArgs } from '../../../src/cli/debug';
import type { OverheadSample } from '../../../src/pods/overhead';
import type { ContainerRecord } from '../../../src/store/container';
import { readyPodRecord } from './records';

const MIB = 1024 * 1024;
const req = (o: Record<string, unknown>) => JSON.stringify({ v: 1, ...o });

t.test('the request: default interval, bounds', async (t) => {
  t.same(parseRequest(req({ cmd: 'overhead' })), { cmd: 'overhead', intervalMs: DEFAULT_OVERHEAD_INTERVAL_MS });
  t.same(parseRequest(req({ cmd: 'overhead', intervalMs: 500 })), { cmd: 'overhead', intervalMs: 500 });
  t.throws(() => parseRequest(req({ cmd: 'overhead', intervalMs: 10 })), InvalidArgumentError, 'too short');
  t.throws(() => parseRequest(req({ cmd: 'overhead', intervalMs: 600_000 })), InvalidArgumentError, 'longer than the client waits');
  t.throws(() => parseRequest(req({ cmd: 'overhead', pod: 'ab' })), /pod: not a field of "overhead"/);
});

t.test('the CLI: no argument, --interval-ms only for overhead', async (t) => {
  t.same(parseDebugArgs('overhead', ['--listen', '/run/vmpod/vmpod.sock'], []), { req: { cmd: 'overhead', intervalMs: DEFAULT_OVERHEAD_INTERVAL_MS }, criSocket: '/run/vmpod/vmpod.sock' });
  t.same(parseDebugArgs('overhead', ['--listen', '/s', '--interval-ms', '750'], []).req, { cmd: 'overhead', intervalMs: 750 });
  t.throws(() => parseDebugArgs('overhead', ['--listen', '/s', 'abc'], []), /takes no argument/);
  t.throws(() => parseDebugArgs('pods', ['--listen', '/s', '--interval-ms', '5'], []), /is an option of "overhead"/);
  t.throws(() => parseDebugArgs('overhead', ['--listen', '/s', '--interval-ms', '1s'], []), /milliseconds/);
});

function reading(vmmCpuNs: number, guestCpuNs: number): OverheadSample[] {
  const base = { timestampNs: '1', cpuUserNs: 0, cpuSystemNs: 0, memoryUsageBytes: 0, memoryRssBytes: 0, memoryLimitBytes: 0, pageFaults: 0, majorPageFaults: 0, processes: 1 };
  return [
    {
      pod: readyPodRecord('a'.repeat(64), 'vm'),
      cgroup: { ...base, cpuUsageNs: vmmCpuNs, memoryWorkingSetBytes: 0, vmm: { rssBytes: 300 * MIB, pssBytes: 250 * MIB, cpuNs: vmmCpuNs, cpuUserNs: vmmCpuNs, cpuSystemNs: 0, threads: 7 } },
      containers: [{ container: { id: 'c1' } as ContainerRecord, cgroup: { ...base, cpuUsageNs: guestCpuNs, memoryWorkingSetBytes: 100 * MIB } }],
    },
    { pod: readyPodRecord('b'.repeat(64), 'runc'), cgroup: { ...base, cpuUsageNs: 5, memoryWorkingSetBytes: 5 }, containers: [] },
  ];
}

t.test('the daemon reads twice, the interval apart, and answers per VM pod', async (t) => {
  const readings = [reading(0, 0), reading(1e9, 0)];
  let calls = 0;
  const view = new PodsView({ list: () => [], resolve: () => readyPodRecord('a', 'vm') }, new Map(), { podMetrics: () => Promise.resolve(readings[calls++]) });
  const res = await view.answer({ cmd: 'overhead', intervalMs: 100 });
  t.equal(calls, 2, 'two readings');
  if (!('overhead' in res)) throw new Error('not an overhead answer');
  const r = res.overhead;
  t.equal(r.pods.length, 1, 'the runc pod has no hypervisor figures');
  t.equal(r.pods[0].memoryBytes, 200 * MIB);
  t.ok(r.intervalMs >= 100, 'the interval measured, at least the one asked');
  t.ok(r.pods[0].cpuMillicores > 0 && r.pods[0].cpuMillicores <= 10_000, '1 s of CPU over ~0.1 s');
  const text = formatOverhead(r);
  t.match(text, /memory overhead: median 200\.0Mi, max 200\.0Mi \(1 VM pod\)/);
  t.match(text, /podFixed:\n {4}memory: "200Mi"\n {4}cpu: "\d+m"/);
  t.match(text, /How: two readings/);
  t.match(text, /aaaaaaaaaaaaa {3}ns\/n-a/, 'short id and pod name');
});

t.test('without a podMetrics source, or with no VM pod, it says so', async (t) => {
  const view = new PodsView({ list: () => [], resolve: () => readyPodRecord('a', 'vm') }, new Map());
  await t.rejects(view.answer({ cmd: 'overhead', intervalMs: 100 }), /measures no pod overhead/);
  t.match(formatOverhead({ intervalMs: 100, pods: [] }), /^no running VM pod to measure/);
});
