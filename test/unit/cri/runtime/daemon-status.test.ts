import t from 'tap';
import { defaultConfig } from '../../../../src/config/defaults';
import { daemonHandlers } from '../../../../src/cri/runtime/daemon';
import type { DaemonInfo } from '../../../../src/cri/runtime/info';

interface StatusAnswer {
  runtime_handlers: { name: string; features: { recursive_read_only_mounts: boolean; user_namespaces: boolean } }[];
  features: { supplemental_groups_policy: boolean; user_namespaces_host_network: boolean };
}

const info = (over: Partial<DaemonInfo> = {}): DaemonInfo => ({
  config: defaultConfig(),
  version: 'test',
  capabilities: async () => [],
  network: () => ({ ready: true, reason: '', message: '' }),
  podCidr: () => '',
  setPodCidr: () => undefined,
  ...over,
});

const status = async (i: DaemonInfo): Promise<StatusAnswer> => (await daemonHandlers(i).Status({}, undefined as never)) as StatusAnswer;

t.test('RuntimeHandlerFeatures come from each handler, "" first', async (t) => {
  const asked: string[] = [];
  const s = await status(
    info({
      handlerFeatures: (name) => {
        asked.push(name);
        return { userNamespaces: name === 'runc', recursiveReadOnlyMounts: name !== '' };
      },
    }),
  );
  const names = Object.keys(defaultConfig().runtime.handlers).filter((n) => n !== '');
  t.same(
    s.runtime_handlers.map((h) => h.name),
    ['', ...names],
    'the default handler, then every configured one',
  );
  t.same(asked, ['', ...names], 'each asked once');
  for (const h of s.runtime_handlers) {
    t.same(h.features, { user_namespaces: h.name === 'runc', recursive_read_only_mounts: h.name !== '' }, `${h.name || '""'}: what its controller said`);
  }
  t.equal(s.features.user_namespaces_host_network, false, 'host network with a user namespace: not supported (as containerd)');
});

t.test('without a features source (test doubles) nothing is claimed', async (t) => {
  const s = await status(info());
  t.ok(
    s.runtime_handlers.every((h) => !h.features.user_namespaces && !h.features.recursive_read_only_mounts),
    'all false',
  );
});
