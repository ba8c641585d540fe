import t from 'tap';
import { parseCniResult, podIpsFromResult } from '../../../src/network/cni-result';

const bridgeResult = {
  cniVersion: '1.0.0',
  interfaces: [
    { name: 'cni0', mac: 'aa:aa:aa:aa:aa:aa' },
    { name: 'veth1234', mac: 'bb:bb:bb:bb:bb:bb' },
    { name: 'eth0', mac: 'cc:cc:cc:cc:cc:cc', sandbox: '/run/vmpod/netns/p1' },
  ],
  ips: [
    { address: 'fd00::5/64', gateway: 'fd00::1', interface: 2 },
    { address: '10.88.0.5/24', gateway: '10.88.0.1', interface: 2 },
    { address: '10.88.0.1/24', interface: 0 },
  ],
  routes: [{ dst: '0.0.0.0/0' }],
  dns: { nameservers: ['10.96.0.10'] },
};

t.test('podIpsFromResult', async (t) => {
  const cases: { desc: string; result: unknown; want: { ip: string; additionalIps: string[] } }[] = [
    { desc: 'dual stack: IPv4 primary, IPv6 additional, host-side IPs ignored', result: bridgeResult, want: { ip: '10.88.0.5', additionalIps: ['fd00::5'] } },
    { desc: 'legacy 0.2.0 ip4/ip6', result: { cniVersion: '0.2.0', ip4: { ip: '10.1.0.2/16', gateway: '10.1.0.1' }, ip6: { ip: 'fd01::2/64' } }, want: { ip: '10.1.0.2', additionalIps: ['fd01::2'] } },
    { desc: 'no IPs', result: { cniVersion: '1.0.0', interfaces: [], ips: [] }, want: { ip: '', additionalIps: [] } },
    { desc: 'IP without interface index counts', result: { cniVersion: '0.4.0', ips: [{ version: '4', address: '192.168.1.9/24' }] }, want: { ip: '192.168.1.9', additionalIps: [] } },
  ];
  for (const c of cases) t.same(podIpsFromResult(parseCniResult(JSON.stringify(c.result)), 'eth0'), c.want, c.desc);
});

t.test('parseCniResult normalises', async (t) => {
  const r = parseCniResult(JSON.stringify(bridgeResult));
  t.equal(r.interfaces.length, 3, 'interfaces kept');
  t.same(r.routes, [{ dst: '0.0.0.0/0', gw: undefined }], 'routes kept');
  t.same(r.dns.nameservers, ['10.96.0.10'], 'dns kept');
  const legacy = parseCniResult(JSON.stringify({ cniVersion: '0.1.0', ip4: { ip: '10.0.0.2/8', routes: [{ dst: '0.0.0.0/0', gw: '10.0.0.1' }] } }));
  t.same(legacy.routes, [{ dst: '0.0.0.0/0', gw: '10.0.0.1' }], 'legacy routes lifted to the top level');
});

t.test('parseCniResult rejects untrustworthy results', async (t) => {
  const cases: { desc: string; text: string; err: RegExp }[] = [
    { desc: 'not JSON', text: 'oops', err: /not valid JSON/ },
    { desc: 'address not an IP', text: '{"cniVersion":"1.0.0","ips":[{"address":"nonsense/24"}]}', err: /not an IP address/ },
    { desc: 'interface index out of range', text: '{"cniVersion":"1.0.0","interfaces":[],"ips":[{"address":"10.0.0.1/8","interface":3}]}', err: /does not index interfaces/ },
    { desc: 'ips not an array', text: '{"cniVersion":"1.0.0","ips":{}}', err: /ips must be an array/ },
    { desc: 'bad mtu', text: '{"cniVersion":"1.0.0","interfaces":[{"name":"eth0","mtu":-1}]}', err: /mtu/ },
    { desc: 'route without dst', text: '{"cniVersion":"1.0.0","routes":[{"gw":"10.0.0.1"}]}', err: /routes\[0\]\.dst/ },
  ];
  for (const c of cases) t.throws(() => parseCniResult(c.text), { message: c.err }, c.desc);
});
