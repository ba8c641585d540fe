// VM-pod wiring: after CNI ADD, a tap in the pod netns is joined to eth0 by
// tc ingress qdiscs with mirred redirects both ways; the guest gets eth0's
// MAC, addresses, routes and MTU; detach removes all of it.

import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { silentLogger } from '../../src/log';
import { attachTap, DEFAULT_TAP_NAME, detachTap, PodNetwork } from '../../src/network';
import { createNetnsSandbox } from '../helpers/netns-sandbox';

const CNI_BIN = '/usr/lib/cni';
for (const [component, path] of [
  ['containernetworking-plugins bridge', `${CNI_BIN}/bridge`],
  ['containernetworking-plugins host-local', `${CNI_BIN}/host-local`],
  ['iproute2 tc', '/usr/sbin/tc'],
  ['/dev/net/tun (tun driver)', '/dev/net/tun'],
]) {
  if (!existsSync(path)) t.fail(`missing component: ${component} (${path})`);
}

const sb = createNetnsSandbox();
t.teardown(() => sb.destroy());
const confDir = join(sb.dir, 'net.d');
mkdirSync(confDir);
writeFileSync(
  join(confDir, '10-vmpodtest.conflist'),
  JSON.stringify({
    cniVersion: '1.0.0',
    name: 'vmpodtest',
    // ipRanges capability and no configured range: the subnet comes only from the pod CIDR of
    // UpdateRuntimeConfig (host-local 1.1.1 appends ipRanges to configured ranges, it does not replace them).
    plugins: [
      { type: 'bridge', bridge: 'vmpodbr0', isGateway: true, mtu: 1400, capabilities: { ipRanges: true }, ipam: { type: 'host-local', routes: [{ dst: '0.0.0.0/0' }], dataDir: join(sb.dir, 'ipam') } },
    ],
  }),
);

t.test('tap wired to eth0 with tc mirred redirects, then removed', async (t) => {
  const net = new PodNetwork({
    config: { cni_conf_dir: confDir, cni_bin_dirs: [CNI_BIN], plugin_timeout_s: 20 },
    root: join(sb.dir, 'root'),
    state: join(sb.dir, 'state'),
    logger: silentLogger,
    hostNetns: sb.netns,
  });
  const id = `vmpod${process.pid}`;
  t.teardown(() => net.teardown(id).catch(() => undefined));
  net.setPodCidr('10.88.76.0/24');
  const pod = await net.setup({ id, name: 'vm', namespace: 'nettest', uid: 'u', hostNetwork: false, portMappings: [] });
  const ns = pod.netnsPath;
  t.match(pod.ips.ip, /^10\.88\.76\.\d+$/, 'the pod CIDR set by UpdateRuntimeConfig reached host-local as ipRanges');

  const guest = await attachTap({ netns: ns });
  const eth0 = JSON.parse(sb.exec(['ip', '-json', 'link', 'show', 'dev', 'eth0'], ns)) as { address: string }[];
  t.equal(guest.mac, eth0[0].address, 'guest NIC gets the CNI interface MAC');
  t.equal(guest.mtu, 1400, 'guest gets the CNI MTU');
  t.same(guest.addresses, [{ family: 4, address: pod.ips.ip, prefixLen: 24 }], 'guest gets the pod IP');
  t.ok(
    guest.routes.some((r) => r.dest === 'default' && r.gateway === '10.88.76.1'),
    'guest gets the default route',
  );
  t.ok(guest.routes.findIndex((r) => r.dest === '10.88.76.0/24') < guest.routes.findIndex((r) => r.dest === 'default'), 'on-link route comes before the gateway route');

  const tap = JSON.parse(sb.exec(['ip', '-json', 'link', 'show', 'dev', DEFAULT_TAP_NAME], ns)) as { mtu: number; flags: string[] }[];
  t.equal(tap[0].mtu, 1400, 'tap has the CNI MTU');
  t.ok(tap[0].flags.includes('UP'), 'tap is up');
  for (const [from, to] of [
    ['eth0', DEFAULT_TAP_NAME],
    [DEFAULT_TAP_NAME, 'eth0'],
  ]) {
    const filters = sb.exec(['tc', 'filter', 'show', 'dev', from, 'ingress'], ns);
    t.match(filters, new RegExp(`mirred \\(Egress Redirect to device ${to}\\)`), `${from} ingress redirects to ${to}`);
  }

  await detachTap({ netns: ns });
  const links = JSON.parse(sb.exec(['ip', '-json', 'link', 'show'], ns)) as { ifname: string }[];
  t.notOk(
    links.some((l) => l.ifname === DEFAULT_TAP_NAME),
    'tap removed',
  );
  t.equal(sb.exec(['tc', 'filter', 'show', 'dev', 'eth0', 'ingress'], ns).trim(), '', 'no filters left on eth0');
  const qdiscs = JSON.parse(sb.exec(['tc', '-json', 'qdisc', 'show', 'dev', 'eth0'], ns)) as { kind: string }[];
  t.notOk(
    qdiscs.some((q) => q.kind === 'ingress'),
    'no ingress qdisc left on eth0',
  );
  await t.resolves(detachTap({ netns: ns }), 'detach again is a no-op');

  await net.teardown(id);
  t.notOk(existsSync(ns), 'pod netns gone');
});
