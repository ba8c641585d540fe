import t from 'tap';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchEnvironment, describeEnvironment, writeJsonReport } from '../../../../bench/lib/report';

t.test('the environment names the machine and the load', async (t) => {
  const e = benchEnvironment();
  t.ok(e.cpus >= 1);
  t.ok(e.loadavg1 >= 0);
  t.match(e.node, /^v\d+/);
  t.ok(!Number.isNaN(Date.parse(e.date)));
  const line = describeEnvironment({ ...e, commit: 'abc1234-dirty' });
  t.match(line, `${e.cpus} vCPU`);
  t.match(line, 'load average');
  t.match(line, 'commit abc1234-dirty');
  t.notMatch(describeEnvironment({ ...e, commit: undefined }), 'commit');
});

t.test('the JSON report holds bench, environment and the result', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-bench-report-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'r.json');
  const env = benchEnvironment();
  writeJsonReport(file, 'runc-pod', env, { runs: 3, rows: [] });
  t.same(JSON.parse(readFileSync(file, 'utf8')), { bench: 'runc-pod', environment: JSON.parse(JSON.stringify(env)) as unknown, runs: 3, rows: [] });
});
