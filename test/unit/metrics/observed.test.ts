// The two hooks the metrics are fed by, each with a real VmpodMetrics: the
// CRI table wrapper (src/cri/wrap.ts observeCalls) and the start steps
// (src/sandbox/steps.ts).

import t from 'tap';
import { NotFoundError } from '../../../common/errors';
import type { CallContext } from '../../../src/cri/handler';
import { observeCalls } from '../../../src/cri/wrap';
import { silentLogger } from '../../../src/log';
import { VmpodMetrics } from '../../../src/metrics/metrics';
import { Steps } from '../../../src/sandbox/steps';

const ctx: CallContext = { log: silentLogger, signal: new AbortController().signal };

t.test('observeCalls counts each call under the gRPC code the caller gets', async (t) => {
  const m = new VmpodMetrics();
  const table = observeCalls(
    {
      Version: async () => ({ version: '0.1.0' }),
      PodSandboxStatus: async () => {
        throw new NotFoundError('pod sandbox', 'abc');
      },
      ListImages: async () => {
        throw new Error('a bug');
      },
    },
    m,
  );
  t.same(await table.Version({}, ctx), { version: '0.1.0' }, 'the answer passes through');
  await t.rejects(table.PodSandboxStatus({}, ctx), { name: 'NotFoundError' }, 'the error passes through unchanged');
  await t.rejects(table.ListImages({}, ctx), /a bug/);
  const { body } = await m.scrape();
  const cases: [string, RegExp][] = [
    ['OK', /^vmpod_cri_calls_total\{method="Version",code="OK"\} 1$/m],
    ['a typed error: its status', /^vmpod_cri_calls_total\{method="PodSandboxStatus",code="NOT_FOUND"\} 1$/m],
    ['an untyped error: INTERNAL', /^vmpod_cri_calls_total\{method="ListImages",code="INTERNAL"\} 1$/m],
    ['timed', /^vmpod_cri_call_duration_seconds_count\{method="Version",code="OK"\} 1$/m],
  ];
  for (const [desc, re] of cases) t.match(body, re, desc);
});

t.test('Steps tells its observer each completed step, not a failed one', async (t) => {
  const m = new VmpodMetrics();
  const steps = new Steps('RunPodSandbox abc', silentLogger, { phases: { operation: 'RunPodSandbox', observer: m } });
  await steps.run('network-setup', async () => 1);
  await t.rejects(
    steps.run('sandbox-create', async () => {
      throw new Error('no runc');
    }),
  );
  const { body } = await m.scrape();
  t.match(body, /^vmpod_start_phase_duration_seconds_count\{operation="RunPodSandbox",step="network-setup"\} 1$/m, 'the step that completed');
  t.notMatch(body, /step="sandbox-create"/, 'the failed step is not timed');
});

t.test('Steps without an observer times nothing and still works', async (t) => {
  const steps = new Steps('x', silentLogger);
  t.equal(await steps.run('a', async () => 5), 5);
  t.same(Object.keys(steps.timings), ['a']);
});
