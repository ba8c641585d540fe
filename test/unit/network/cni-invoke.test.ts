import t from 'tap';
import { cniArgs, parsePluginError, pluginEnv, pluginStdin, runtimeConfigFor, versionAtLeast } from '../../../src/network/cni-invoke';
import type { CniConfList, PodNetworkSpec } from '../../../src/network/types';

const pod: PodNetworkSpec = {
  id: 'abc123',
  name: 'web',
  namespace: 'default',
  uid: 'u-1',
  hostNetwork: false,
  portMappings: [
    { containerPort: 80, hostPort: 8080, protocol: 'TCP', hostIp: '' },
    { containerPort: 53, hostPort: 5353, protocol: 'UDP', hostIp: '127.0.0.1' },
    { containerPort: 9090, hostPort: 0, protocol: 'TCP', hostIp: '' },
  ],
  dns: { servers: ['10.96.0.10'], searches: ['default.svc.cluster.local'], options: ['ndots:5'] },
  bandwidth: { ingressRate: 1000000, egressRate: 2000000 },
};

t.test('CNI_ARGS and environment', async (t) => {
  t.equal(cniArgs(pod), 'IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web;K8S_POD_INFRA_CONTAINER_ID=abc123;K8S_POD_UID=u-1', 'kubelet-style CNI_ARGS');
  const env = pluginEnv('ADD', { containerId: 'abc123', netns: '/run/vmpod/netns/abc123', ifName: 'eth0', args: 'X=1' }, ['/usr/lib/cni', '/opt/cni/bin'], '/usr/bin');
  t.same(
    env,
    { PATH: '/usr/bin', CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'abc123', CNI_NETNS: '/run/vmpod/netns/abc123', CNI_IFNAME: 'eth0', CNI_ARGS: 'X=1', CNI_PATH: '/usr/lib/cni:/opt/cni/bin' },
    'only PATH and CNI_* variables',
  );
});

t.test('runtimeConfigFor', async (t) => {
  const rc = runtimeConfigFor(pod, '10.244.1.0/24');
  t.same(
    rc.portMappings,
    [
      { hostPort: 8080, containerPort: 80, protocol: 'tcp' },
      { hostPort: 5353, containerPort: 53, protocol: 'udp', hostIP: '127.0.0.1' },
    ],
    'published ports only, protocol lowercased, hostIP only when set',
  );
  t.same(rc.dns, { servers: ['10.96.0.10'], searches: ['default.svc.cluster.local'], options: ['ndots:5'] }, 'dns');
  t.same(rc.bandwidth, { ingressRate: 1000000, egressRate: 2000000 }, 'bandwidth');
  t.same(rc.ipRanges, [[{ subnet: '10.244.1.0/24' }]], 'pod CIDR as ipRanges');
  t.same(runtimeConfigFor({ ...pod, portMappings: [], dns: undefined, bandwidth: undefined }, ''), {}, 'nothing set → empty runtimeConfig');
});

t.test('pluginStdin', async (t) => {
  const list: CniConfList = {
    cniVersion: '1.0.0',
    name: 'k8s',
    plugins: [
      { type: 'bridge', bridge: 'cni0' },
      { type: 'portmap', capabilities: { portMappings: true, bandwidth: false } },
    ],
  };
  const rc = runtimeConfigFor(pod, '10.244.1.0/24');
  const cases: { desc: string; plugin: number; prev: unknown; want: Record<string, unknown> }[] = [
    { desc: 'first plugin: no capabilities → no runtimeConfig, no prevResult', plugin: 0, prev: undefined, want: { type: 'bridge', bridge: 'cni0', name: 'k8s', cniVersion: '1.0.0' } },
    {
      desc: 'chained plugin: declared capability only, prevResult passed',
      plugin: 1,
      prev: { cniVersion: '1.0.0', ips: [] },
      want: {
        type: 'portmap',
        capabilities: { portMappings: true, bandwidth: false },
        name: 'k8s',
        cniVersion: '1.0.0',
        runtimeConfig: { portMappings: rc.portMappings },
        prevResult: { cniVersion: '1.0.0', ips: [] },
      },
    },
  ];
  for (const c of cases) t.same(pluginStdin(list, list.plugins[c.plugin], rc, c.prev), c.want, c.desc);
});

t.test('versionAtLeast', async (t) => {
  const cases: [string, string, boolean][] = [
    ['1.0.0', '0.4.0', true],
    ['0.4.0', '0.4.0', true],
    ['0.3.1', '0.4.0', false],
    ['0.10.0', '0.4.0', true],
  ];
  for (const [v, min, want] of cases) t.equal(versionAtLeast(v, min), want, `${v} >= ${min}`);
});

t.test('parsePluginError', async (t) => {
  const cases: { desc: string; stdout: string; stderr: string; want: unknown }[] = [
    {
      desc: 'CNI error object',
      stdout: '{"cniVersion":"1.0.0","code":7,"msg":"failed to allocate","details":"range full"}',
      stderr: '',
      want: { code: 7, msg: 'failed to allocate', details: 'range full' },
    },
    { desc: 'error without details', stdout: '{"code":11,"msg":"try again"}', stderr: '', want: { code: 11, msg: 'try again', details: undefined } },
    { desc: 'no JSON: stderr', stdout: '', stderr: 'panic: oops\n', want: { msg: 'panic: oops' } },
    { desc: 'nothing at all', stdout: '', stderr: '', want: { msg: 'no output' } },
  ];
  for (const c of cases) t.same(parsePluginError(c.stdout, c.stderr), c.want, c.desc);
});
