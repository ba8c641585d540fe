import t from 'tap';
import { SHARED_MOUNT_TAG, VOLUME_MOUNT_TAG } from '../../../../src/hypervisor';
import { GUEST_SHARED_DIR, GUEST_VOLUME_DIR } from '../../../../src/sandbox/microvm/layout';
import { createSandboxRequest, guestNetworkCalls, guestShares, INIT_FAILED_MARKER, INIT_HANDOVER_MARKER, phaseMessage, stuckPhase } from '../../../../src/sandbox/microvm/start';

t.test('where a boot got stuck, from the console', async (t) => {
  const cases: [string, string, string][] = [
    ['empty console: the kernel never spoke', '', 'kernel-boot'],
    ['kernel messages only', '[    0.000000] Linux version 6.1\n[ 1.2] Run /init as init process', 'kernel-boot'],
    ['init failed before hand-over', `vmpod-init: start\n${INIT_FAILED_MARKER}: mount /dev/pmem0\n`, 'kernel-boot'],
    ['init handed over to the agent', `vmpod-init: root mounted\n${INIT_HANDOVER_MARKER}, starting agent\n`, 'agent-connect'],
  ];
  for (const [desc, console, want] of cases) t.equal(stuckPhase(console), want, desc);
});

t.test('error message names the phase and carries the console tail', async (t) => {
  const lines = Array.from({ length: 30 }, (_, i) => `line ${i}`).join('\n');
  const m = phaseMessage('pod1', 'agent-connect', 'no answer', lines, 5);
  t.match(m, /^pod VM pod1: agent-connect failed: no answer; guest console \(last 5 lines\):\nline 25\n/);
  t.notMatch(m, /line 24/, 'only the last lines');
  t.match(phaseMessage('pod1', 'qemu-start', 'x', '  \n'), /the guest console is empty$/, 'empty console said so');
});

t.test('the guest mounts the pod share first (the agent takes the first as its share dir), then the volume share inside it', async (t) => {
  const shares = guestShares();
  t.same(
    shares.map((s) => [s.tag, s.mount_point, s.read_only]),
    [
      [SHARED_MOUNT_TAG, GUEST_SHARED_DIR, false],
      [VOLUME_MOUNT_TAG, GUEST_VOLUME_DIR, false],
    ],
  );
  t.ok(GUEST_VOLUME_DIR.startsWith(`${GUEST_SHARED_DIR}/`), 'inside the pod share: bind sources stay relative to one share dir');
});

t.test("the agent's CreateSandbox request (one builder for a cold start and a pool hand-out) carries the pod's identity, DNS, shares, sysctls and debug flag", async (t) => {
  const config = {
    dns_config: { servers: ['10.0.0.10'], searches: ['svc.cluster.local'], options: ['ndots:5'] },
    linux: { sysctls: { 'net.ipv4.ip_forward': '1' } },
  } as unknown as Parameters<typeof createSandboxRequest>[0]['config'];
  const before = BigInt(Date.now()) * 1_000_000n;
  const req = createSandboxRequest({ id: 'pod-1', hostname: 'web-0', config }, { debugProcesses: true });
  t.equal(req.sandbox_id, 'pod-1');
  t.equal(req.hostname, 'web-0');
  t.same(req.dns, { nameservers: ['10.0.0.10'], searches: ['svc.cluster.local'], options: ['ndots:5'] });
  t.same(req.shared_mounts, guestShares());
  t.same(req.sysctls, { 'net.ipv4.ip_forward': '1' });
  t.equal(req.debug_processes, true);
  const after = BigInt(Date.now()) * 1_000_000n;
  // A double near 1.8e18 ns is exact only to 256 ns: the field may round below `before` by up to 128 ns.
  const sent = BigInt(req.guest_time_unix_nano);
  t.ok(sent >= before - 256n && sent <= after + 256n, `the guest's clock is set from the host's time now (${sent} in [${before}, ${after}])`);
  const plain = createSandboxRequest({ id: 'pod-2', hostname: 'h', config: {} as typeof config }, {});
  t.same(plain.dns, { nameservers: [], searches: [], options: [] }, 'no DNS config: empty lists');
  t.equal(plain.debug_processes, false, 'debug processes only when the daemon says so');
});

t.test("a cold start's CreateSandbox carries the pod's network (one round trip instead of three); a pool hand-out's does not", async (t) => {
  const net = {
    tapName: 'tap0_vmpod',
    ifName: 'eth0',
    mac: '0A:58:0A:58:00:05',
    mtu: 1450,
    addresses: [
      { family: 4 as const, address: '10.88.0.5', prefixLen: 16 },
      { family: 6 as const, address: 'fd00::5', prefixLen: 64 },
    ],
    routes: [
      { dest: '10.88.0.0/16', scope: 'link', family: 4 as const, source: '10.88.0.5' },
      { dest: 'default', gateway: '10.88.0.1', scope: 'universe', family: 4 as const },
    ],
  };
  const config = {} as Parameters<typeof createSandboxRequest>[0]['config'];
  const req = createSandboxRequest({ id: 'pod-1', hostname: 'h', config }, {}, net);
  const calls = guestNetworkCalls(net);
  t.same(req.interface, { name: 'eth0', mac: '0a:58:0a:58:00:05', mtu: 1450, addresses: ['10.88.0.5/16', 'fd00::5/64'] }, 'the interface as UpdateInterface gets it, MAC in lower case');
  t.same(req.interface, calls.iface, 'the same request UpdateInterface gets from an older agent');
  t.same(
    req.routes,
    [
      { destination: '10.88.0.0/16', gateway: '', device: 'eth0', source: '10.88.0.5' },
      { destination: 'default', gateway: '10.88.0.1', device: 'eth0', source: '' },
    ],
    'the routes in order (on-link first), each on the pod interface',
  );
  t.same(req.routes, calls.routes.routes, 'the same routes UpdateRoutes gets from an older agent');
  const pool = createSandboxRequest({ id: 'pod-2', hostname: 'h', config }, {});
  t.notOk('interface' in pool, 'no network: no interface field');
  t.notOk('routes' in pool, 'no network: no routes field');
});
