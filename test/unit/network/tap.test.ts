import t from 'tap';
import { guestNetworkFrom } from '../../../src/network/tap';

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
