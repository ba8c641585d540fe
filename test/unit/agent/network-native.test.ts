// The guest's network set-up through the addon's rtnetlink calls leaves the
// same state as the busybox `ip` command lines it replaces. Each scenario runs
// twice, each time in a network namespace of its own (`unshare --net`, gone
// when the child exits) with the same NIC (a veth end): once as the busybox script
// (as a guest whose addon lacks the calls runs it), once through the addon;
// then iproute2 dumps links, addresses and routes of both, and they must match.

import t from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { NetStep } from '../../../agent/src/network';
import { interfaceSteps, routeStep } from '../../../agent/src/network';
import { guestNetCalls } from '../../../common/native/rtnetlink';

const BUSYBOX = ['/bin/busybox', '/usr/bin/busybox'].find((p) => spawnSync(p, ['true']).status === 0);
const missing =
  process.getuid?.() !== 0 ? 'network namespaces need root' : !BUSYBOX ? 'busybox is not installed' : spawnSync('unshare', ['--version']).status !== 0 ? 'unshare(1) is missing' : undefined;
if (!missing && !guestNetCalls()) t.fail('missing component: vsock.node with the rtnetlink calls (scripts/build-native builds it)');

const NETWORK_JS = join(__dirname, '../../../agent/src/network.js');
const RTNETLINK_JS = join(__dirname, '../../../common/native/rtnetlink.js');

/**
 * Run in the child, in its new namespace: make the NIC, bring it to the
 * scenario's starting state, apply the steps one way, print what iproute2 sees.
 */
const CHILD = `
const { execFileSync } = require('node:child_process');
const [how, setupJson, stepsJson, busybox] = process.argv.slice(1);
const sh = (c) => execFileSync('/bin/sh', ['-e', '-c', c], { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
sh('ip link set lo up');
for (const c of JSON.parse(setupJson)) sh(c);
const steps = JSON.parse(stepsJson);
let error = null;
try {
  if (how === 'busybox') {
    execFileSync('/bin/sh', ['-e', '-s'], { input: require(${JSON.stringify(NETWORK_JS)}).ipScript(busybox, steps.map(require(${JSON.stringify(NETWORK_JS)}).ipArgs)), stdio: ['pipe', 'pipe', 'pipe'] });
  } else {
    const net = require(${JSON.stringify(RTNETLINK_JS)}).guestNetCalls();
    for (const s of steps) require(${JSON.stringify(NETWORK_JS)}).applyStep(net, s);
  }
} catch (e) {
  error = String(e.message).split('\\n')[0];
}
// DAD is off, but its completion still passes through a work queue: wait for no tentative address.
for (let i = 0; i < 200 && sh('ip -6 addr show tentative').trim() !== ''; i++) execFileSync('sleep', ['0.01']);
const j = (c) => JSON.parse(sh(c) || '[]');
process.stdout.write(JSON.stringify({
  error,
  links: j('ip -j -d link show'),
  addrs: j('ip -j addr show'),
  routes4: j('ip -j -4 route show table all'),
  routes6: j('ip -j -6 route show table all'),
}));
`;

interface Result {
  error: string | null;
  links: unknown[];
  addrs: unknown[];
  routes4: unknown[];
  routes6: unknown[];
}

function runIn(how: 'busybox' | 'rtnetlink', setup: string[], steps: NetStep[]): Result {
  const out = execFileSync('unshare', ['--net', '--', process.execPath, '-e', CHILD, how, JSON.stringify(setup), JSON.stringify(steps), BUSYBOX ?? ''], { stdio: ['ignore', 'pipe', 'pipe'] });
  return JSON.parse(out.toString()) as Result;
}

/** Drops what differs between any two runs and says nothing about the set-up (counters, timers). */
function normalize(r: Result): Result {
  const strip = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(strip);
    if (v && typeof v === 'object') {
      const o: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) if (!['stats64', 'stats', 'expires'].includes(k)) o[k] = strip(x);
      return o;
    }
    return v;
  };
  return strip(r) as Result;
}

/**
 * A NIC as the guest has one: one end of a veth pair (the kernels this runs
 * on may lack the dummy driver) with a fixed MAC, its peer up so that it has
 * a carrier, and no IPv6 duplicate address detection (no address stays
 * tentative for a moment that one dump sees and the other does not).
 */
const NIC = (name: string): string =>
  [
    'sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0',
    `ip link add ${name} address 0a:58:0a:58:00:05 type veth peer name peer0 address 0a:58:0a:58:00:06`,
    'ip link set peer0 up',
  ].join(' && ');

const scenarios: Array<{ desc: string; setup: string[]; steps: NetStep[] }> = [
  {
    desc: 'a cold boot: the NIC renamed, MTU, IPv4 address, up, the subnet route with a source, the default route',
    setup: [NIC('enp0s3')],
    steps: [
      ...interfaceSteps({ name: 'eth0', mac: '', mtu: 1450, addresses: ['10.88.0.5/16'] }, 'enp0s3'),
      routeStep({ destination: '10.88.0.0/16', gateway: '', device: 'eth0', source: '10.88.0.5' }, 0),
      routeStep({ destination: 'default', gateway: '10.88.0.1', device: 'eth0', source: '' }, 1),
    ],
  },
  {
    desc: 'dual stack: IPv4 and IPv6 addresses, an on-link IPv4 gateway outside the subnet, IPv6 default via link-local',
    setup: [NIC('enp0s3')],
    steps: [
      ...interfaceSteps({ name: 'eth0', mac: '', mtu: 0, addresses: ['10.88.0.5/32', 'fd00:10:88::5/64'] }, 'enp0s3'),
      routeStep({ destination: '169.254.1.1/32', gateway: '', device: 'eth0', source: '' }, 0),
      routeStep({ destination: 'default', gateway: '169.254.1.1', device: 'eth0', source: '' }, 1),
      routeStep({ destination: 'default', gateway: 'fe80::1', device: 'eth0', source: '' }, 2),
      routeStep({ destination: 'fd00:20::/48', gateway: 'fd00:10:88::1', device: '', source: '' }, 3),
    ],
  },
  {
    desc: 'a NIC already named and up with addresses of both families (flushed, link-local included) and routes replaced',
    setup: [
      NIC('eth0'),
      'ip link set eth0 up',
      'ip addr add 10.1.0.7/24 dev eth0',
      'ip addr add 10.3.0.8/16 dev eth0',
      'ip addr add fd00:1::7/64 dev eth0',
      'ip route add 10.2.0.0/16 via 10.1.0.1 dev eth0',
      'ip route add default dev eth0',
    ],
    steps: [
      ...interfaceSteps({ name: 'eth0', mac: '', mtu: 9000, addresses: ['10.1.0.9/24'] }, 'eth0'),
      routeStep({ destination: '10.2.0.0/16', gateway: '10.1.0.254', device: 'eth0', source: '' }, 0),
      routeStep({ destination: 'default', gateway: '', device: 'eth0', source: '10.1.0.9' }, 1),
      routeStep({ destination: '0.0.0.0/0', gateway: '10.1.0.1', device: '', source: '' }, 2),
    ],
  },
  {
    desc: 'a failure half-way (a gateway not reachable) stops at the same step with the same state',
    setup: [NIC('enp0s3')],
    steps: [
      ...interfaceSteps({ name: 'eth0', mac: '', mtu: 0, addresses: ['10.88.0.5/16'] }, 'enp0s3'),
      routeStep({ destination: 'default', gateway: '192.168.7.1', device: 'eth0', source: '' }, 0),
      routeStep({ destination: '10.9.0.0/16', gateway: '', device: 'eth0', source: '' }, 1),
    ],
  },
];

for (const s of scenarios) {
  t.test(s.desc, { skip: missing ?? false }, async (t) => {
    const bb = normalize(runIn('busybox', s.setup, s.steps));
    const nl = normalize(runIn('rtnetlink', s.setup, s.steps));
    t.equal(nl.error === null, bb.error === null, `both succeed or both fail (busybox: ${bb.error}; rtnetlink: ${nl.error})`);
    t.same(nl.links, bb.links, 'the same links (names, MTU, flags)');
    t.same(nl.addrs, bb.addrs, 'the same addresses (scope, flags, no broadcast added)');
    t.same(nl.routes4, bb.routes4, 'the same IPv4 routes (table, protocol, scope, source)');
    t.same(nl.routes6, bb.routes6, 'the same IPv6 routes');
    t.ok(bb.routes4.length > 0, 'the comparison saw routes (not two empty dumps)');
  });
}

t.test("the addon's errors name the object and the kernel's reason", { skip: missing ?? false }, async (t) => {
  const steps: NetStep[] = [{ op: 'link-mtu', dev: 'enp0s3', mtu: 70000 }];
  const r = runIn('rtnetlink', [NIC('enp0s3')], steps);
  t.match(r.error, /^RTM_NEWLINK dev enp0s3 mtu 70000: EINVAL \(invalid argument\): .*max/i, "an MTU beyond the device's: EINVAL, the link, the change and the kernel's words");
  const r2 = runIn('rtnetlink', [], [{ op: 'addr-add', dev: 'nope0', address: '10.0.0.1', prefixLength: 8 }]);
  t.match(r2.error, /RTM_NEWADDR dev nope0: ENODEV/, 'a missing link: ENODEV, naming it');
  const r3 = runIn('rtnetlink', [NIC('eth0')], [{ op: 'route-replace', destination: null, prefixLength: 0, gateway: '10.0.0.1', device: 'eth0' }]);
  t.match(r3.error, /RTM_NEWROUTE default via 10\.0\.0\.1 dev eth0: ENETUNREACH/, 'an unreachable gateway: the route in the message');
});

t.test('a flush takes secondary addresses too, where busybox stops', { skip: missing ?? false }, async (t) => {
  // Deleting a primary IPv4 address deletes its secondaries with it; busybox
  // 1.35's flush then fails on them ("can't send flush request: Cannot assign
  // requested address") and the script stops with no address. The addon's
  // flush takes what is gone as gone, and the steps after it run.
  const setup = [NIC('eth0'), 'ip addr add 10.1.0.7/24 dev eth0', 'ip addr add 10.1.0.8/24 dev eth0'];
  const steps = interfaceSteps({ name: 'eth0', mac: '', mtu: 0, addresses: ['10.1.0.9/24'] }, 'eth0');
  const nl = runIn('rtnetlink', setup, steps);
  t.equal(nl.error, null, 'no error');
  const eth0 = (nl.addrs as Array<{ ifname: string; addr_info: Array<{ family: string; local: string }> }>).find((l) => l.ifname === 'eth0');
  t.same(
    eth0?.addr_info.filter((a) => a.family === 'inet').map((a) => a.local),
    ['10.1.0.9'],
    'the new IPv4 address only',
  );
});

t.test('the addon refuses arguments of the wrong shape before any request', { skip: missing ?? false }, async (t) => {
  const net = guestNetCalls();
  if (!net) return;
  t.throws(() => net.addrAdd('lo', '10.0.0.1', 33), /prefix length 33/, 'an IPv4 prefix beyond 32');
  t.throws(() => net.addrAdd('lo', 'not-an-ip', 8), /not an IP address/, 'not an address');
  t.throws(() => net.routeReplace('fd00::', 64, '10.0.0.1', null, null), /one family/, 'mixed families');
  t.throws(() => net.routeReplace(null, 8, null, 'lo', null), /does not fit default/, 'a prefix length on default');
  t.throws(() => net.linkRename('lo', 'a-name-too-long-for-ifnamsiz'), /not an interface name/, 'a name beyond IFNAMSIZ');
  t.throws(() => net.setRealtimeClock(-1, 0), RangeError, 'a negative time (the clock untouched)');
  t.throws(() => net.setRealtimeClock(1, 1e9), RangeError, 'nanoseconds beyond a second');
});
