import t from 'tap';
import { routePod } from '../../../src/sandbox/route';
import { defaultConfig } from '../../../src/config/defaults';
import { InvalidArgumentError } from '../../../common/errors';

const untrusted = { 'io.kubernetes.cri.untrusted-workload': 'true' };

t.test('routing decisions', async (t) => {
  const rt = defaultConfig().runtime;
  const untrustedDefault = { ...rt, default_trust: 'untrusted' as const };
  const cases: { desc: string; runtime: typeof rt; handler: string; annotations: Record<string, string>; want: { handler: string; reason: RegExp } }[] = [
    { desc: 'default trusted → runc', runtime: rt, handler: '', annotations: {}, want: { handler: 'runc', reason: /default_trust is trusted/ } },
    { desc: 'annotation → untrusted handler', runtime: rt, handler: '', annotations: untrusted, want: { handler: 'vm', reason: /annotation/ } },
    { desc: 'annotation "false" stays trusted', runtime: rt, handler: '', annotations: { 'io.kubernetes.cri.untrusted-workload': 'false' }, want: { handler: 'runc', reason: /trusted/ } },
    { desc: 'RuntimeClass wins over annotation', runtime: rt, handler: 'runc', annotations: untrusted, want: { handler: 'runc', reason: /RuntimeClass/ } },
    { desc: 'RuntimeClass vm', runtime: rt, handler: 'vm', annotations: {}, want: { handler: 'vm', reason: /RuntimeClass handler "vm"/ } },
    { desc: 'default_trust untrusted', runtime: untrustedDefault, handler: '', annotations: {}, want: { handler: 'vm', reason: /default_trust is untrusted/ } },
  ];
  for (const c of cases) t.match(routePod(c.runtime, c.handler, c.annotations), c.want, c.desc);
});

t.test('a handler that is not configured is INVALID_ARGUMENT naming where it came from', async (t) => {
  const rt = defaultConfig().runtime;
  t.throws(
    () => routePod(rt, 'kata', {}),
    { constructor: InvalidArgumentError, field: 'runtime_handler', message: /unknown runtime handler "kata"; configured handlers: runc, vm/ },
    'RuntimeClass handler',
  );
  t.throws(() => routePod({ ...rt, untrusted_handler: 'gone' }, '', untrusted), { field: 'runtime.untrusted_handler', message: /"gone"/ }, 'misconfigured untrusted handler names the config key');
});
