import t from 'tap';
import { guestNetworkFrom, ipJsonLines, tapWiring } from '../../../src/network/tap';

t.test('guestNetworkFrom', async (t) => {
  const link = {
    ifname: 'eth0',
    mtu: 1450,
    address: '0a:58:0a:f4:01:05',
    addr_info: [
      { family: 'inet', local: '10.244.1.5', prefixlen: 24, scope: 'global' },
      { family: 'inet6', local: 'fd00::5', prefixlen: 64, scope: 'global' },
      { family: 'inet6', local: 'fe80::858:aff:fef4:105', prefixlen: 64, scope: 'link' },
    ],
  };
  const g = guestNetworkFrom(
    link,
    [
      { dst: 'default', gateway: '10.244.1.1' },
      { dst: '10.244.1.0/24', protocol: 'kernel', scope: 'link', prefsrc: '10.244.1.5' },
    ],
    [
      { dst: 'fd00::/64', protocol: 'kernel' },
      { dst: 'fe80::/64', protocol: 'kernel' },
    ],
    'tap0_vmpod',
  );
  t.equal(g.mac, '0a:58:0a:f4:01:05', 'MAC of the CNI interface');
  t.equal(g.mtu, 1450, 'MTU');
  t.same(
    g.addresses,
    [
      { family: 4, address: '10.244.1.5', prefixLen: 24 },
      { family: 6, address: 'fd00::5', prefixLen: 64 },
    ],
    'global addresses only',
  );
  t.same(
    g.routes.map((r) => `${r.dest}${r.gateway ? ` via ${r.gateway}` : ''} ${r.scope}`),
    ['10.244.1.0/24 link', 'fd00::/64 link', 'default via 10.244.1.1 universe'],
    'link-local v6 routes dropped, on-link routes first',
  );
  t.throws(() => guestNetworkFrom({ ifname: 'eth0', mtu: 1500 }, [], [], 'tap0'), /no MAC/, 'an interface without MAC is an error');
});

t.test("the tap and its redirects, in order; a tap that is there already (a pool VM's) is not made again", async (t) => {
  const steps = tapWiring({ ifName: 'eth0', tapName: 'tap0_vmpod', ownerUid: 1900000000, mtu: 1450, exists: false });
  t.same(
    steps.map((s) => s.argv.join(' ')),
    [
      'ip tuntap add dev tap0_vmpod mode tap user 1900000000',
      'ip link set dev tap0_vmpod mtu 1450 up',
      'tc qdisc add dev eth0 handle ffff: ingress',
      'tc filter add dev eth0 parent ffff: protocol all u32 match u8 0 0 action mirred egress redirect dev tap0_vmpod',
      'tc qdisc add dev tap0_vmpod handle ffff: ingress',
      'tc filter add dev tap0_vmpod parent ffff: protocol all u32 match u8 0 0 action mirred egress redirect dev eth0',
    ],
    "created owned by QEMU's uid, with eth0's MTU, then mirred both ways",
  );
  const existing = tapWiring({ ifName: 'eth0', tapName: 'tap0_vmpod', ownerUid: 0, mtu: 1500, exists: true });
  t.same(
    existing.map((s) => s.what),
    steps.slice(1).map((s) => s.what),
    'an existing tap: the same without its creation',
  );
});

t.test('three ip -json outputs, one a line', async (t) => {
  t.same(ipJsonLines('[{"ifname":"eth0"}]\n[]\n[{"dst":"fe80::/64"}]\n', 3, 'read'), [[{ ifname: 'eth0' }], [], [{ dst: 'fe80::/64' }]], 'parsed in order');
  t.throws(() => ipJsonLines('[]\n[]\n', 3, 'read eth0'), /read eth0: expected 3 lines of ip -json output, got 2/, 'a missing output is an error');
  t.throws(() => ipJsonLines('[]\n{oops\n[]\n', 3, 'read eth0'), /read eth0: ip printed invalid JSON/, 'invalid JSON is an error');
});
