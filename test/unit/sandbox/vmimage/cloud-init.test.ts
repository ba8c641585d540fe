import t from 'tap';
import { InvalidArgumentError } from '../../../../common/errors';
import type { GuestNetwork } from '../../../../src/network';
import {
  DEFAULT_USER_DATA,
  firmwareChoice,
  metaData,
  mountHolding,
  networkConfig,
  resolvConfDns,
  USER_DATA_ANNOTATION,
  USER_DATA_PATH_ANNOTATION,
  userDataSource,
} from '../../../../src/sandbox/vmimage/cloud-init';

const net: Pick<GuestNetwork, 'mac' | 'mtu' | 'addresses' | 'routes'> = {
  mac: '0A:58:0A:58:00:05',
  mtu: 1450,
  addresses: [
    { family: 4, address: '10.88.0.5', prefixLen: 16 },
    { family: 6, address: 'fd00::5', prefixLen: 64 },
  ],
  routes: [
    { dest: '10.88.0.0/16', scope: 'link', family: 4 },
    { dest: 'default', gateway: '10.88.0.1', scope: 'universe', family: 4 },
    { dest: '192.168.0.0/16', gateway: '10.88.0.254', scope: 'universe', family: 4 },
    { dest: 'default', gateway: 'fd00::1', scope: 'universe', family: 6 },
  ],
};

t.test('network-config v2: the NIC by MAC, addresses, routes, MTU, DNS', async (t) => {
  const cfg = JSON.parse(networkConfig(net, { servers: ['10.96.0.10'], searches: ['default.svc.cluster.local', 'svc.cluster.local'] })) as Record<string, unknown>;
  t.same(cfg, {
    version: 2,
    ethernets: {
      eth0: {
        match: { macaddress: '0a:58:0a:58:00:05' },
        'set-name': 'eth0',
        dhcp4: false,
        dhcp6: false,
        addresses: ['10.88.0.5/16', 'fd00::5/64'],
        mtu: 1450,
        routes: [
          { to: '0.0.0.0/0', via: '10.88.0.1' },
          { to: '192.168.0.0/16', via: '10.88.0.254' },
          { to: '::/0', via: 'fd00::1' },
        ],
        nameservers: { addresses: ['10.96.0.10'], search: ['default.svc.cluster.local', 'svc.cluster.local'] },
      },
    },
  });
});

t.test('a gateway outside every prefix (a /32 pod address) is on-link', async (t) => {
  const cfg = JSON.parse(
    networkConfig(
      { mac: 'aa:bb:cc:dd:ee:ff', mtu: 1500, addresses: [{ family: 4, address: '192.168.7.9', prefixLen: 32 }], routes: [{ dest: 'default', gateway: '169.254.1.1', scope: 'universe', family: 4 }] },
      { servers: [], searches: [] },
    ),
  ) as { ethernets: { eth0: Record<string, unknown> } };
  t.same(cfg.ethernets.eth0.routes, [{ to: '0.0.0.0/0', via: '169.254.1.1', 'on-link': true }]);
  t.notOk('nameservers' in cfg.ethernets.eth0, 'no DNS: no nameservers key');
});

t.test('meta-data: instance id and hostname, safe against YAML in names', async (t) => {
  const text = metaData('5f0c-uid', 'web-0');
  t.same(JSON.parse(text), { 'instance-id': '5f0c-uid', 'local-hostname': 'web-0' });
  const hostile = metaData('id', 'x\nruncmd: [reboot]');
  t.same(JSON.parse(hostile), { 'instance-id': 'id', 'local-hostname': 'x\nruncmd: [reboot]' }, 'a newline stays inside the string');
  t.notMatch(hostile, /^runcmd/m, 'no new top-level key');
});

t.test('user-data source: container before pod, text or path, never both', async (t) => {
  t.same(userDataSource({}, {}), { kind: 'default' }, 'none: the default');
  t.same(userDataSource({}, { [USER_DATA_ANNOTATION]: '#cloud-config\n' }), { kind: 'inline', text: '#cloud-config\n', from: `pod annotation ${USER_DATA_ANNOTATION}` });
  t.same(userDataSource({ [USER_DATA_ANNOTATION]: 'c' }, { [USER_DATA_ANNOTATION]: 'p' }), { kind: 'inline', text: 'c', from: `container annotation ${USER_DATA_ANNOTATION}` }, 'the container wins');
  t.same(userDataSource({ [USER_DATA_PATH_ANNOTATION]: '/etc/ud/./userdata' }, { [USER_DATA_ANNOTATION]: 'p' }), {
    kind: 'file',
    containerPath: '/etc/ud/userdata',
    from: `container annotation ${USER_DATA_PATH_ANNOTATION}`,
  });
  t.throws(() => userDataSource({ [USER_DATA_ANNOTATION]: 'a', [USER_DATA_PATH_ANNOTATION]: '/x' }, {}), InvalidArgumentError, 'both at one level');
  t.throws(() => userDataSource({}, { [USER_DATA_PATH_ANNOTATION]: 'relative/ud' }), /absolute container path/, 'relative path');
  t.throws(() => userDataSource({}, { [USER_DATA_PATH_ANNOTATION]: '/secret/../../etc/shadow' }), /without "\.\."/, 'dot-dot');
  t.equal(DEFAULT_USER_DATA.split('\n')[0], '#cloud-config', 'the default is cloud-config');
});

t.test('firmware by annotation', async (t) => {
  t.equal(firmwareChoice({}, {}, 'seabios'), 'seabios');
  t.equal(firmwareChoice({}, { 'vmpod.io/firmware': 'ovmf' }, 'seabios'), 'ovmf');
  t.equal(firmwareChoice({ 'vmpod.io/firmware': 'seabios' }, { 'vmpod.io/firmware': 'ovmf' }, 'ovmf'), 'seabios');
  t.throws(() => firmwareChoice({ 'vmpod.io/firmware': 'coreboot' }, {}, 'seabios'), /"coreboot" is neither/);
});

t.test('the mount holding a container path: the deepest, never the mount point itself', async (t) => {
  const mounts = [
    { container_path: '/etc', host_path: '/h/etc' },
    { container_path: '/etc/ud', host_path: '/h/secret' },
    { container_path: '/etc/udx', host_path: '/h/other' },
  ];
  t.same(mountHolding('/etc/ud/userdata', mounts), { mount: mounts[1], rel: 'userdata' });
  t.same(mountHolding('/etc/hosts', mounts), { mount: mounts[0], rel: 'hosts' });
  t.same(mountHolding('/etc/udx/f', mounts), { mount: mounts[2], rel: 'f' }, 'a sibling with a common prefix is not the same mount');
  t.equal(mountHolding('/etc/ud', [mounts[1]]), undefined, 'the mount point itself');
  t.equal(mountHolding('/var/x', mounts), undefined, 'in no mount');
});

t.test("the host's resolv.conf without loopback resolvers", async (t) => {
  t.same(resolvConfDns('nameserver 127.0.0.53\nnameserver 1.1.1.1\nsearch a b\noptions edns0\nnameserver ::1\n'), { servers: ['1.1.1.1'], searches: ['a', 'b'] });
});
