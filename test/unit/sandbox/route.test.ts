import t from 'tap';
import { routePod } from '../../../src/sandbox/route';
import { defaultConfig } from '../../../src/config/defaults';
import { FailedPreconditionError, InvalidArgumentError } from '../../../common/errors';
import type { PodSandboxConfig__Output } from '../../../src/generated/cri/runtime/v1/PodSandboxConfig';

type PodBits = Pick<PodSandboxConfig__Output, 'annotations' | 'linux'>;
const untrusted = { 'io.kubernetes.cri.untrusted-workload': 'true' };
function pod(annotations: Record<string, string> = {}, ns: { network?: string; pid?: string; ipc?: string } = {}, privileged = false): PodBits {
  return {
    annotations,
    linux: { security_context: { namespace_options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD', ...ns }, privileged } },
  } as unknown as PodBits;
}

t.test('routing decisions', async (t) => {
  const rt = defaultConfig().runtime;
  const untrustedDefault = { ...rt, default_trust: 'untrusted' as const };
  const cases: { desc: string; runtime: typeof rt; handler: string; pod: PodBits; want: { handler: string; type: string; reason: RegExp } }[] = [
    { desc: 'default trusted → runc', runtime: rt, handler: '', pod: pod(), want: { handler: 'runc', type: 'runc', reason: /default_trust is trusted/ } },
    { desc: 'annotation → untrusted handler', runtime: rt, handler: '', pod: pod(untrusted), want: { handler: 'vm', type: 'microvm', reason: /annotation/ } },
    { desc: 'annotation "false" stays trusted', runtime: rt, handler: '', pod: pod({ 'io.kubernetes.cri.untrusted-workload': 'false' }), want: { handler: 'runc', type: 'runc', reason: /trusted/ } },
    { desc: 'RuntimeClass wins over annotation', runtime: rt, handler: 'runc', pod: pod(untrusted), want: { handler: 'runc', type: 'runc', reason: /RuntimeClass/ } },
    { desc: 'RuntimeClass vm', runtime: rt, handler: 'vm', pod: pod(), want: { handler: 'vm', type: 'microvm', reason: /RuntimeClass handler "vm"/ } },
    { desc: 'default_trust untrusted', runtime: untrustedDefault, handler: '', pod: pod(), want: { handler: 'vm', type: 'microvm', reason: /default_trust is untrusted/ } },
    { desc: 'trusted pod may use host network', runtime: rt, handler: '', pod: pod({}, { network: 'NODE' }, true), want: { handler: 'runc', type: 'runc', reason: /trusted/ } },
    // Privileged in a VM pod is privileged inside the guest (guest-spec.ts): it reaches nothing of the host.
    { desc: 'a privileged pod may run in a VM', runtime: rt, handler: 'vm', pod: pod({}, {}, true), want: { handler: 'vm', type: 'microvm', reason: /RuntimeClass/ } },
  ];
  for (const c of cases) t.match(routePod(c.runtime, c.handler, c.pod), c.want, c.desc);
});

t.test('refusals', async (t) => {
  const rt = defaultConfig().runtime;
  t.throws(() => routePod(rt, 'kata', pod()), { constructor: InvalidArgumentError, message: /unknown runtime handler "kata"; configured handlers: runc, vm/ }, 'unknown handler lists configured ones');
  // No VM runtime can give a pod the node's namespaces: the message says why and what to do.
  const why = /a VM pod runs under a guest kernel of its own and the node's namespaces exist only in the host kernel, so no VM runtime can provide them; run it as a trusted \(runc\) pod/;
  const cases: { desc: string; pod: PodBits; what: RegExp }[] = [
    { desc: 'host network', pod: pod(untrusted, { network: 'NODE' }), what: /asks for host network \(hostNetwork: the node's own namespace\)/ },
    { desc: 'host PID', pod: pod(untrusted, { pid: 'NODE' }), what: /asks for host PID \(hostPID: the node's own namespace\)/ },
    { desc: 'host IPC', pod: pod(untrusted, { ipc: 'NODE' }), what: /asks for host IPC \(hostIPC: the node's own namespace\)/ },
    { desc: 'all three', pod: pod(untrusted, { network: 'NODE', pid: 'NODE', ipc: 'NODE' }), what: /asks for host network, host PID, host IPC \(hostNetwork, hostPID, hostIPC: the node's own namespaces\)/ },
  ];
  for (const c of cases) {
    t.throws(() => routePod(rt, '', c.pod), { constructor: FailedPreconditionError, message: c.what }, `untrusted + ${c.desc}: names what was asked`);
    t.throws(() => routePod(rt, '', c.pod), { message: why }, `untrusted + ${c.desc}: says why no VM can`);
  }
  const broken = { ...rt, untrusted_handler: 'gone' };
  t.throws(() => routePod(broken, '', pod(untrusted)), { field: 'runtime.untrusted_handler', message: /"gone"/ }, 'misconfigured untrusted handler names the config key');
});
