import t from 'tap';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyStep, interfaceSteps, ipArgs, ipScript, routeStep } from '../../../agent/src/network';
import { clockTime } from '../../../agent/src/sandbox';
import { recordingGuestNet } from './recording-guest-net';
import { EARLY_MOUNTS, earlyMountArgs, mountSyscallArgs, ninePMountArgs } from '../../../agent/src/mounts';
import { InvalidArgumentError } from '../../../common/errors';

t.test('interface steps, and as busybox ip command lines', async (t) => {
  const steps = interfaceSteps({ name: 'eth0', mac: '', mtu: 1450, addresses: ['10.88.0.5/16', 'fd00::5/64'] }, 'enp0s3');
  t.same(
    steps,
    [
      { op: 'link-down', dev: 'enp0s3' },
      { op: 'link-rename', dev: 'enp0s3', name: 'eth0' },
      { op: 'link-mtu', dev: 'eth0', mtu: 1450 },
      { op: 'addr-flush', dev: 'eth0' },
      { op: 'addr-add', dev: 'eth0', address: '10.88.0.5', prefixLength: 16 },
      { op: 'addr-add', dev: 'eth0', address: 'fd00::5', prefixLength: 64 },
      { op: 'link-up', dev: 'eth0' },
    ],
    'rename (down first), mtu, addresses replaced (IPv4 and IPv6), up',
  );
  t.same(
    steps.map(ipArgs),
    [
      ['link', 'set', 'dev', 'enp0s3', 'down'],
      ['link', 'set', 'dev', 'enp0s3', 'name', 'eth0'],
      ['link', 'set', 'dev', 'eth0', 'mtu', '1450'],
      ['addr', 'flush', 'dev', 'eth0'],
      ['addr', 'add', '10.88.0.5/16', 'dev', 'eth0'],
      ['addr', 'add', 'fd00::5/64', 'dev', 'eth0'],
      ['link', 'set', 'dev', 'eth0', 'up'],
    ],
    "the fallback's command lines are the ones busybox always ran",
  );
  t.same(
    interfaceSteps({ name: 'eth0', mac: '', mtu: 0, addresses: [] }, 'eth0'),
    [
      { op: 'addr-flush', dev: 'eth0' },
      { op: 'link-up', dev: 'eth0' },
    ],
    'already named, no mtu, no address: flush and up only',
  );
  const bad = [
    { desc: 'address without prefix', req: { name: 'eth0', mac: '', mtu: 0, addresses: ['10.0.0.1'] } },
    { desc: 'IPv4 prefix beyond 32', req: { name: 'eth0', mac: '', mtu: 0, addresses: ['10.0.0.1/33'] } },
    { desc: 'IPv6 prefix beyond 128', req: { name: 'eth0', mac: '', mtu: 0, addresses: ['fd00::1/129'] } },
    { desc: 'two prefixes', req: { name: 'eth0', mac: '', mtu: 0, addresses: ['10.0.0.1/8/8'] } },
    { desc: 'not an address', req: { name: 'eth0', mac: '', mtu: 0, addresses: ['10.0.0/8'] } },
    { desc: 'an IPv6 zone', req: { name: 'eth0', mac: '', mtu: 0, addresses: ['fe80::1%eth0/64'] } },
    { desc: 'interface name with a space', req: { name: 'eth 0', mac: '', mtu: 0, addresses: [] } },
    { desc: 'interface name too long', req: { name: 'a23456789012345x', mac: '', mtu: 0, addresses: [] } },
    { desc: 'tiny mtu', req: { name: 'eth0', mac: '', mtu: 10, addresses: [] } },
  ];
  for (const b of bad) t.throws(() => interfaceSteps(b.req, 'eth0'), InvalidArgumentError, b.desc);
});

t.test('route steps, and as busybox ip command lines', async (t) => {
  const cases = [
    {
      desc: 'default via gateway',
      r: { destination: 'default', gateway: '10.88.0.1', device: 'eth0', source: '' },
      step: { op: 'route-replace', destination: null, prefixLength: 0, gateway: '10.88.0.1', device: 'eth0' },
      ip: ['route', 'replace', 'default', 'via', '10.88.0.1', 'dev', 'eth0'],
    },
    {
      desc: 'on-link subnet with a source',
      r: { destination: '10.88.0.0/16', gateway: '', device: 'eth0', source: '10.88.0.5' },
      step: { op: 'route-replace', destination: '10.88.0.0', prefixLength: 16, device: 'eth0', source: '10.88.0.5' },
      ip: ['route', 'replace', '10.88.0.0/16', 'dev', 'eth0', 'src', '10.88.0.5'],
    },
    {
      desc: 'on-link host route to a gateway outside the subnet',
      r: { destination: '169.254.1.1/32', gateway: '', device: 'eth0', source: '' },
      step: { op: 'route-replace', destination: '169.254.1.1', prefixLength: 32, device: 'eth0' },
      ip: ['route', 'replace', '169.254.1.1/32', 'dev', 'eth0'],
    },
    {
      desc: 'IPv6 default via a link-local gateway',
      r: { destination: 'default', gateway: 'fe80::1', device: 'eth0', source: '' },
      step: { op: 'route-replace', destination: null, prefixLength: 0, gateway: 'fe80::1', device: 'eth0' },
      ip: ['route', 'replace', 'default', 'via', 'fe80::1', 'dev', 'eth0'],
    },
    {
      desc: 'IPv6 subnet',
      r: { destination: 'fd00::/64', gateway: '', device: 'eth0', source: '' },
      step: { op: 'route-replace', destination: 'fd00::', prefixLength: 64, device: 'eth0' },
      ip: ['route', 'replace', 'fd00::/64', 'dev', 'eth0'],
    },
  ];
  for (const c of cases) {
    t.same(routeStep(c.r, 0), c.step, `${c.desc}: step`);
    t.same(ipArgs(routeStep(c.r, 0)), c.ip, `${c.desc}: ip command line`);
  }
  const bad = [
    { desc: 'bad destination', r: { destination: 'everywhere', gateway: '', device: '', source: '' } },
    { desc: 'gateway with a shell command', r: { destination: 'default', gateway: '10.0.0.1; reboot', device: '', source: '' } },
    { desc: 'IPv6 destination via an IPv4 gateway', r: { destination: 'fd00::/64', gateway: '10.0.0.1', device: '', source: '' } },
    { desc: 'IPv4 gateway with an IPv6 source', r: { destination: 'default', gateway: '10.0.0.1', device: '', source: 'fd00::5' } },
    { desc: 'bad device', r: { destination: 'default', gateway: '', device: 'eth0 x', source: '' } },
  ];
  for (const b of bad) t.throws(() => routeStep(b.r, 3), InvalidArgumentError, b.desc);
  t.throws(() => routeStep(bad[0].r, 3), /routes\[3\]\.destination/, 'the error names the route and the field');
});

t.test("each step is one of the addon's calls with the step's typed arguments", async (t) => {
  const { net, calls } = recordingGuestNet();
  const steps = [
    ...interfaceSteps({ name: 'eth0', mac: '', mtu: 1400, addresses: ['10.88.0.5/16'] }, 'enp0s3'),
    routeStep({ destination: '10.88.0.0/16', gateway: '', device: 'eth0', source: '10.88.0.5' }, 0),
    routeStep({ destination: 'default', gateway: '10.88.0.1', device: '', source: '' }, 1),
  ];
  for (const s of steps) applyStep(net, s);
  t.same(calls, [
    ['linkSetUp', 'enp0s3', false],
    ['linkRename', 'enp0s3', 'eth0'],
    ['linkSetMtu', 'eth0', 1400],
    ['addrFlush', 'eth0'],
    ['addrAdd', 'eth0', '10.88.0.5', 16],
    ['linkSetUp', 'eth0', true],
    ['routeReplace', '10.88.0.0', 16, null, 'eth0', '10.88.0.5'],
    ['routeReplace', null, 0, '10.88.0.1', null, null],
  ]);
});

t.test('a Unix time in ns as clock_settime seconds and nanoseconds', async (t) => {
  t.same(clockTime(1_765_000_000_123_456_000), { seconds: 1_765_000_000, nanoseconds: 123_456_000 }, 'split at the second (to the double precision of the ns)');
  t.same(clockTime(5e9), { seconds: 5, nanoseconds: 0 }, 'a whole second');
  t.same(clockTime(999), { seconds: 0, nanoseconds: 999 }, 'under a second');
});

t.test('9p mount arguments', async (t) => {
  t.same(
    ninePMountArgs({ tag: 'shared', mount_point: '/run/vmpod/shared', msize: 0, cache: '', read_only: true }),
    ['mount', '-t', '9p', '-o', 'trans=virtio,version=9p2000.L,msize=524288,cache=mmap,ro', 'shared', '/run/vmpod/shared'],
    'defaults',
  );
  const bad = [
    { desc: 'tag with a comma (option injection)', m: { tag: 'a,b', mount_point: '/run/x', msize: 0, cache: '', read_only: false } },
    { desc: 'mount point outside /run', m: { tag: 'a', mount_point: '/etc', msize: 0, cache: '', read_only: false } },
    { desc: 'msize too large', m: { tag: 'a', mount_point: '/run/x', msize: 1 << 24, cache: '', read_only: false } },
  ];
  for (const b of bad) t.throws(() => ninePMountArgs(b.m), InvalidArgumentError, b.desc);
});

t.test('busybox mount arguments as mount(2) arguments: generic options become flags, the rest stays data', async (t) => {
  t.same(
    mountSyscallArgs(ninePMountArgs({ tag: 'shared', mount_point: '/run/vmpod/shared', msize: 0, cache: '', read_only: true })),
    { source: 'shared', target: '/run/vmpod/shared', fstype: '9p', flags: 1, data: 'trans=virtio,version=9p2000.L,msize=524288,cache=mmap' },
    '9p read-only: ro is MS_RDONLY, not data',
  );
  const shm = EARLY_MOUNTS.find((m) => m.target === '/dev/shm');
  t.ok(shm, 'an early /dev/shm mount');
  if (shm) {
    t.same(
      mountSyscallArgs(earlyMountArgs(shm)),
      { source: 'shm', target: '/dev/shm', fstype: 'tmpfs', flags: 2 | 4 | 8, data: 'mode=1777,size=65536k' },
      'nosuid,nodev,noexec as MS_NOSUID|MS_NODEV|MS_NOEXEC',
    );
  }
  t.throws(() => mountSyscallArgs(['mount', '-t', 'tmpfs', 'x', '/tmp']), InvalidArgumentError, 'no -o: refused');
  t.throws(() => mountSyscallArgs(['mount', '--bind', '/a', '/b']), InvalidArgumentError, 'a bind mount is not this shape');
  t.throws(() => mountSyscallArgs(['mount', '-t', 'tmpfs', '-o', 'mode=1777', 'x', '/tmp', 'extra']), InvalidArgumentError, 'extra argument refused');
});

t.test('ip commands as one sh -e script: each argument arrives intact, the first failure stops the rest', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ipscript-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // A stand-in busybox that prints its arguments one per line, and fails on "fail".
  const bb = join(dir, 'busybox');
  writeFileSync(bb, '#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done\n[ "$3" != fail ]\n');
  chmodSync(bb, 0o755);
  const cmds = [
    ['addr', 'add', '10.0.0.5/24', 'dev', 'eth0'],
    ['link', 'set', 'dev', "we'ird $(x) name", 'up'],
  ];
  t.equal(ipScript('/bin/busybox', [cmds[0]]), "'/bin/busybox' 'ip' 'addr' 'add' '10.0.0.5/24' 'dev' 'eth0'\n", 'one quoted line per command');
  const out = execFileSync('/bin/sh', ['-e', '-s'], { input: ipScript(bb, cmds) }).toString();
  t.same(
    out.split('\n').filter(Boolean),
    cmds.flatMap((c) => ['ip', ...c]),
    'arguments pass through sh unchanged, quotes and $() included',
  );
  let failed = false;
  let out2 = '';
  try {
    execFileSync('/bin/sh', ['-e', '-s'], { input: ipScript(bb, [['x', 'fail'], ['after']]) });
  } catch (err) {
    failed = true;
    out2 = String((err as { stdout: Buffer }).stdout);
  }
  t.ok(failed, 'a failing command fails the script');
  t.notMatch(out2, /after/, 'and the commands after it do not run');
});
