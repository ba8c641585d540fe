// The CNI runner against tiny shell-script plugins that record what they
// were given: order of calls, environment, stdin chaining, errors, timeouts.

import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { DeadlineExceededError, FailedPreconditionError, InternalError } from '../../../common/errors';
import { silentLogger } from '../../../src/log';
import { CniRunner } from '../../../src/network/cni';
import type { CniConfList } from '../../../src/network/types';

const dir = mkdtempSync(join(tmpdir(), 'vmpod-cni-unit-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const log = join(dir, 'calls.log');

function plugin(name: string, body: string): void {
  const p = join(dir, name);
  writeFileSync(p, `#!/bin/sh\nIN=$(cat)\nprintf '%s %s %s %s\\n' "${name}" "$CNI_COMMAND" "$CNI_IFNAME" "$IN" >> ${log}\n${body}\n`);
  chmodSync(p, 0o755);
}
// Each echoes a result naming itself, so chaining is visible in the next plugin's prevResult.
plugin('one', `[ "$CNI_COMMAND" = ADD ] && echo '{"cniVersion":"1.0.0","ips":[{"address":"10.9.0.2/24"}],"by":"one"}'; exit 0`);
plugin('two', `[ "$CNI_COMMAND" = ADD ] && echo '{"cniVersion":"1.0.0","ips":[{"address":"10.9.0.2/24"}],"by":"two"}'; exit 0`);
plugin('fails', `echo '{"code":7,"msg":"no addresses left","details":"range 10.9.0.0/24"}'; exit 1`);
plugin('slow', 'exec sleep 30');

function calls(): { plugin: string; command: string; ifName: string; stdin: Record<string, unknown> }[] {
  let text: string;
  try {
    text = readFileSync(log, 'utf8');
  } catch {
    return [];
  }
  return text
    .trim()
    .split('\n')
    .map((l) => {
      const [plugin, command, ifName, ...rest] = l.split(' ');
      return { plugin, command, ifName, stdin: JSON.parse(rest.join(' ')) as Record<string, unknown> };
    });
}

const inv = { containerId: 'pod1', netns: '/nonexistent/netns', ifName: 'eth0', args: 'IgnoreUnknown=1' };
const runner = new CniRunner({ binDirs: ['/nonexistent-bin', dir], timeoutMs: 1500, logger: silentLogger });
const list = (...types: string[]): CniConfList => ({ cniVersion: '1.0.0', name: 'unit', plugins: types.map((type) => ({ type })) });

t.beforeEach(() => rmSync(log, { force: true }));

t.test('ADD chains prevResult, returns the last result', async (t) => {
  const res = (await runner.add(list('one', 'two'), inv, {})) as { by: string };
  t.equal(res.by, 'two', 'result of the last plugin');
  const c = calls();
  t.same(
    c.map((x) => `${x.plugin}:${x.command}:${x.ifName}`),
    ['one:ADD:eth0', 'two:ADD:eth0'],
    'in list order, with CNI_IFNAME',
  );
  t.notOk('prevResult' in c[0].stdin, 'first plugin gets no prevResult');
  t.equal((c[1].stdin.prevResult as { by: string }).by, 'one', "second plugin gets the first one's result");
  t.equal(c[1].stdin.name, 'unit', 'network name injected');
});

t.test('DEL runs in reverse with the cached result, and keeps going past failures', async (t) => {
  await t.rejects(runner.del(list('one', 'fails', 'two'), inv, {}, { cached: true }), InternalError, 'the failure is reported');
  const c = calls();
  t.same(
    c.map((x) => `${x.plugin}:${x.command}`),
    ['two:DEL', 'fails:DEL', 'one:DEL'],
    'reverse order, every plugin asked',
  );
  t.same(c[0].stdin.prevResult, { cached: true }, 'cached result as prevResult (0.4.0+)');
  rmSync(log, { force: true });
  await runner.del({ ...list('one'), cniVersion: '0.3.1' }, inv, {}, { cached: true });
  t.notOk('prevResult' in calls()[0].stdin, 'no prevResult on DEL before 0.4.0');
});

t.test('CHECK', async (t) => {
  await runner.check(list('one', 'two'), inv, {}, { cached: true });
  t.same(
    calls().map((x) => `${x.plugin}:${x.command}`),
    ['one:CHECK', 'two:CHECK'],
    'in list order',
  );
  rmSync(log, { force: true });
  await runner.check({ ...list('one'), disableCheck: true }, inv, {}, {});
  await runner.check({ ...list('one'), cniVersion: '0.3.1' }, inv, {}, {});
  t.same(calls(), [], 'skipped when disabled or before 0.4.0');
});

t.test('errors name the plugin', async (t) => {
  await t.rejects(
    runner.add(list('one', 'fails'), inv, {}),
    { message: 'CNI plugin "fails" ADD for pod pod1 failed (CNI error 7): no addresses left: range 10.9.0.0/24' },
    'CNI error object surfaces',
  );
  await t.rejects(runner.add(list('missing'), inv, {}), FailedPreconditionError, 'missing plugin binary');
  await t.rejects(runner.add(list('slow'), inv, {}), DeadlineExceededError, 'a plugin that hangs is killed at the timeout');
});
