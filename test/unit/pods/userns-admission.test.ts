// RunPodSandbox of a pod with a user namespace (hostUsers: false): the domain
// asks the handler's features (not its kind), validates the mappings, refuses
// host namespaces, and hands the id maps to the network layer, which makes
// the netns inside the user namespace.

import t from 'tap';
import { FailedPreconditionError, InvalidArgumentError } from '../../../common/errors';
import { silentLogger } from '../../../src/log';
import type { CallContext } from '../../../src/cri/handler';
import type { PodNetworkRequest } from '../../../src/pods/providers';
import { podFixture } from './fixture';

const ctx: CallContext = { log: silentLogger, signal: new AbortController().signal };
const MAP = [{ container_id: 0, host_id: 196608, length: 65536 }];
const config = (ns: Record<string, unknown> = {}, uids = MAP) => ({
  metadata: { name: 'p', namespace: 'ns', uid: 'u', attempt: 0 },
  labels: {},
  annotations: {},
  port_mappings: [],
  hostname: '',
  linux: { security_context: { namespace_options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD', userns_options: { mode: 'POD', uids, gids: MAP }, ...ns } } },
});

t.test('a handler without user namespaces refuses the pod before anything is made (FAILED_PRECONDITION)', async (t) => {
  let networks = 0;
  const { h, sandboxes } = podFixture(t, {
    controller: { features: () => ({ userNamespaces: false, recursiveReadOnlyMounts: false }) },
    network: {
      prepare: async () => {
        networks++;
        throw new Error('not reached');
      },
    },
  });
  await t.rejects(h.RunPodSandbox({ config: config(), runtime_handler: 'vm' }, ctx), FailedPreconditionError);
  await t.rejects(h.RunPodSandbox({ config: config(), runtime_handler: 'vm' }, ctx), /handler "vm" does not support user namespaces \(hostUsers: false\)/);
  t.same([sandboxes.list().length, networks], [0, 0], 'no record, no network');
});

t.test('with a handler that has them: bad mappings and host namespaces are INVALID_ARGUMENT; good ones reach the network layer', async (t) => {
  const asked: (PodNetworkRequest & { userns?: unknown })[] = [];
  const { h, sandboxes } = podFixture(t, {
    controller: { features: () => ({ userNamespaces: true, recursiveReadOnlyMounts: true }), createSandbox: async () => ({}) },
    network: {
      prepare: async (req) => {
        asked.push(req);
        return { netnsPath: '/pins/p', attach: async () => ({ ips: { ip: '', additionalIps: [] } }) };
      },
    },
  });
  await t.rejects(h.RunPodSandbox({ config: config({}, [{ container_id: 0, host_id: 0, length: 10 }]), runtime_handler: 'runc' }, ctx), /uids\[0\]\.host_id/);
  for (const ns of ['network', 'pid', 'ipc']) {
    await t.rejects(h.RunPodSandbox({ config: config({ [ns]: 'NODE' }), runtime_handler: 'runc' }, ctx), InvalidArgumentError, `host ${ns}: refused`);
  }
  t.same([sandboxes.list().length, asked.length], [0, 0], 'nothing made for the refused ones');
  await h.RunPodSandbox({ config: config(), runtime_handler: 'runc' }, ctx);
  t.same(asked[0]?.userns, { uidMap: '0 196608 65536\n', gidMap: '0 196608 65536\n' }, 'the network layer gets the id maps');
});
