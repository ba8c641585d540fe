import t from 'tap';
import { register as globalRegistry } from 'prom-client';
import { VmpodMetrics } from '../../../src/metrics/metrics';

t.test('observers land in their metrics', async (t) => {
  const m = new VmpodMetrics();
  m.callDone('RunPodSandbox', 'OK', 0.2);
  m.callDone('RunPodSandbox', 'OK', 0.3);
  m.callDone('StopPodSandbox', 'NOT_FOUND', 0.001);
  m.phaseDone('RunPodSandbox', 'network-setup', 0.02);
  m.pullDone({ ok: true, seconds: 3, bytes: 1000 });
  m.pullDone({ ok: false, seconds: 1, bytes: 0 });
  const { body, contentType } = await m.scrape();
  t.match(contentType, /^text\/plain/, 'text exposition');
  const cases: [string, RegExp][] = [
    ['call count by method and code', /^vmpod_cri_calls_total\{method="RunPodSandbox",code="OK"\} 2$/m],
    ['a failed call under its code', /^vmpod_cri_calls_total\{method="StopPodSandbox",code="NOT_FOUND"\} 1$/m],
    ['latency histogram sum', /^vmpod_cri_call_duration_seconds_sum\{method="RunPodSandbox",code="OK"\} 0\.5$/m],
    ['latency bucket', /^vmpod_cri_call_duration_seconds_bucket\{le="0\.25",method="RunPodSandbox",code="OK"\} 1$/m],
    ['phase histogram by operation and step', /^vmpod_start_phase_duration_seconds_count\{operation="RunPodSandbox",step="network-setup"\} 1$/m],
    ['pulls by result', /^vmpod_image_pulls_total\{result="error"\} 1$/m],
    ['bytes only of successful pulls', /^vmpod_image_pull_bytes_total 1000$/m],
    ['pull duration', /^vmpod_image_pull_duration_seconds_sum\{result="ok"\} 3$/m],
  ];
  for (const [desc, re] of cases) t.match(body, re, desc);
});

t.test('each instance has its own registry, never the global one', async (t) => {
  const a = new VmpodMetrics();
  const b = new VmpodMetrics();
  a.callDone('Version', 'OK', 0.001);
  t.match((await a.scrape()).body, /vmpod_cri_calls_total\{method="Version",code="OK"\} 1/);
  t.notMatch((await b.scrape()).body, /method="Version"/, 'b saw nothing of a');
  t.equal(globalRegistry.getMetricsAsArray().length, 0, 'nothing registered globally');
});
