// CreateSandbox with the pod's network (a cold start's one round trip): the
// NIC found by its MAC, configured as UpdateInterface then UpdateRoutes would,
// in one script; an answer that says so; bad network fields refused before
// any ip command runs.

import t from 'tap';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GrpcStatus } from '../../../common/errors';
import { RemoteStatusError } from '../../../common/ttrpc';
import { startClient, type Harness } from './harness';
import { recordingGuestNet } from './recording-guest-net';

const iface = { name: 'eth0', mac: '0a:58:0a:58:00:05', mtu: 1450, addresses: ['10.88.0.5/16'] };
const routes = [
  { destination: '10.88.0.0/16', gateway: '', device: 'eth0', source: '10.88.0.5' },
  { destination: 'default', gateway: '10.88.0.1', device: 'eth0', source: '' },
];

/** A guest NIC in the harness's /sys/class/net. */
function nic(h: Harness, name: string, mac: string): void {
  mkdirSync(join(h.dirs.net, name), { recursive: true });
  writeFileSync(join(h.dirs.net, name, 'address'), `${mac}\n`);
}

const scripts = (h: Harness): string[] => h.commands.filter((c) => c.args[0] === 'sh').map((c) => c.input ?? '');

t.test('CreateSandbox with interface and routes configures both in one script, after the sandbox', async (t) => {
  const { h, client } = startClient(t);
  nic(h, 'enp0s3', '0a:58:0a:58:00:05');
  const res = await client.call('CreateSandbox', { sandbox_id: 'sb1', hostname: 'pod-a', interface: iface, routes });
  t.equal(res.network_configured, true, 'the answer says the network went with the call');
  const s = scripts(h);
  t.equal(s.length, 1, 'one fork for the interface and the routes');
  const lines = s[0].trim().split('\n');
  t.same(
    lines,
    [
      "'busybox' 'ip' 'link' 'set' 'dev' 'enp0s3' 'down'",
      "'busybox' 'ip' 'link' 'set' 'dev' 'enp0s3' 'name' 'eth0'",
      "'busybox' 'ip' 'link' 'set' 'dev' 'eth0' 'mtu' '1450'",
      "'busybox' 'ip' 'addr' 'flush' 'dev' 'eth0'",
      "'busybox' 'ip' 'addr' 'add' '10.88.0.5/16' 'dev' 'eth0'",
      "'busybox' 'ip' 'link' 'set' 'dev' 'eth0' 'up'",
      "'busybox' 'ip' 'route' 'replace' '10.88.0.0/16' 'dev' 'eth0' 'src' '10.88.0.5'",
      "'busybox' 'ip' 'route' 'replace' 'default' 'via' '10.88.0.1' 'dev' 'eth0'",
    ],
    'the NIC with the MAC renamed, MTU, address, up, then the routes in order',
  );
  t.equal(h.commands[h.commands.length - 1].args[0], 'sh', 'the network comes last, after the sandbox set-up');
});

t.test('CreateSandbox without a network runs no ip command and still answers network_configured', async (t) => {
  const { h, client } = startClient(t);
  const res = await client.call('CreateSandbox', { sandbox_id: 'sb1', hostname: 'pod-a' });
  t.equal(res.network_configured, true, 'nothing to configure is configured');
  t.same(scripts(h), [], 'no script');
});

t.test('CreateSandbox refuses a bad network before any ip command runs', async (t) => {
  const cases = [
    { desc: 'no NIC has the MAC', req: { interface: { ...iface, mac: '0a:58:0a:58:00:99' } }, code: GrpcStatus.NOT_FOUND },
    { desc: 'an address without a prefix', req: { interface: { ...iface, addresses: ['10.88.0.5'] } }, code: GrpcStatus.INVALID_ARGUMENT },
    {
      desc: 'a route gateway that is no address',
      req: { interface: iface, routes: [{ destination: 'default', gateway: '10.88.0.1; reboot', device: 'eth0', source: '' }] },
      code: GrpcStatus.INVALID_ARGUMENT,
    },
    { desc: 'a route on a bad device name', req: { routes: [{ destination: 'default', gateway: '', device: 'eth0 x', source: '' }] }, code: GrpcStatus.INVALID_ARGUMENT },
  ];
  for (const c of cases) {
    const { h, client } = startClient(t);
    nic(h, 'enp0s3', '0a:58:0a:58:00:05');
    const err = await client.call('CreateSandbox', { sandbox_id: 'sb1', hostname: 'pod-a', ...c.req }).catch((e: unknown) => e);
    t.type(err, RemoteStatusError, c.desc);
    t.equal((err as RemoteStatusError).grpcStatus, c.code, `${c.desc}: ${GrpcStatus[c.code]}`);
    t.same(scripts(h), [], `${c.desc}: no ip command ran`);
  }
});

t.test("with the addon's rtnetlink calls: the same steps, the clock set, and nothing forked", async (t) => {
  const { h, client } = startClient(t);
  nic(h, 'enp0s3', '0a:58:0a:58:00:05');
  const { net, calls } = recordingGuestNet();
  h.deps.sys.guestNet = () => net;
  const res = await client.call('CreateSandbox', { sandbox_id: 'sb1', hostname: 'pod-a', guest_time_unix_nano: 1_765_000_000_5e8, interface: iface, routes });
  t.equal(res.network_configured, true, 'the answer says the network went with the call');
  t.same(
    calls,
    [
      ['setRealtimeClock', 1_765_000_000, 500_000_000],
      ['linkSetUp', 'lo', true],
      ['linkSetUp', 'enp0s3', false],
      ['linkRename', 'enp0s3', 'eth0'],
      ['linkSetMtu', 'eth0', 1450],
      ['addrFlush', 'eth0'],
      ['addrAdd', 'eth0', '10.88.0.5', 16],
      ['linkSetUp', 'eth0', true],
      ['routeReplace', '10.88.0.0', 16, null, 'eth0', '10.88.0.5'],
      ['routeReplace', null, 0, '10.88.0.1', 'eth0', null],
    ],
    'the clock first, lo up (the harness has no lo in its sysfs), then what the script did, in its order',
  );
  t.same(
    h.commands.filter((c) => c.cmd === 'busybox'),
    [],
    'no busybox: neither ip nor date',
  );
  await client.call('UpdateRoutes', { routes: [{ destination: 'fd00::/64', gateway: '', device: 'eth0', source: '' }] });
  t.same(calls[calls.length - 1], ['routeReplace', 'fd00::', 64, null, 'eth0', null], 'UpdateRoutes goes the same way');
});

t.test('without them, the clock is set by busybox date, to the second', async (t) => {
  const { h, client } = startClient(t);
  await client.call('CreateSandbox', { sandbox_id: 'sb1', hostname: 'pod-a', guest_time_unix_nano: 1_765_000_000_5e8 });
  t.same(
    h.commands.filter((c) => c.args[0] === 'date').map((c) => c.args),
    [['date', '-u', '-s', '@1765000000']],
    'date -s @seconds',
  );
});
