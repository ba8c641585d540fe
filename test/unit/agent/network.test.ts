import t from 'tap';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { interfaceCommands, ipScript, routeCommand } from '../../../agent/src/network';
import { EARLY_MOUNTS, earlyMountArgs, mountSyscallArgs, ninePMountArgs } from '../../../agent/src/mounts';
import { InvalidArgumentError } from '../../../common/errors';

t.test('interface commands', async (t) => {
  t.same(
    interfaceCommands({ name: 'eth0', mac: '', mtu: 1450, addresses: ['10.88.0.5/16'] }, 'enp0s3'),
    [
      ['link', 'set', 'dev', 'enp0s3', 'down'],
      ['link', 'set', 'dev', 'enp0s3', 'name', 'eth0'],
      ['link', 'set', 'dev', 'eth0', 'mtu', '1450'],
      ['addr', 'flush', 'dev', 'eth0'],
      ['addr', 'add', '10.88.0.5/16', 'dev', 'eth0'],
      ['link', 'set', 'dev', 'eth0', 'up'],
    ],
    'rename, mtu, address, up',
  );
  const bad = [
    { desc: 'address without prefix', req: { name: 'eth0', mac: '', mtu: 0, addresses: ['10.0.0.1'] } },
    { desc: 'interface name with a space', req: { name: 'eth 0', mac: '', mtu: 0, addresses: [] } },
    { desc: 'tiny mtu', req: { name: 'eth0', mac: '', mtu: 10, addresses: [] } },
  ];
  for (const b of bad) t.throws(() => interfaceCommands(b.req, 'eth0'), InvalidArgumentError, b.desc);
});

t.test('route commands', async (t) => {
  const cases = [
    { desc: 'default via gateway', r: { destination: 'default', gateway: '10.88.0.1', device: 'eth0', source: '' }, want: ['route', 'replace', 'default', 'via', '10.88.0.1', 'dev', 'eth0'] },
    { desc: 'on-link subnet', r: { destination: '10.88.0.0/16', gateway: '', device: 'eth0', source: '10.88.0.5' }, want: ['route', 'replace', '10.88.0.0/16', 'dev', 'eth0', 'src', '10.88.0.5'] },
  ];
  for (const c of cases) t.same(routeCommand(c.r, 0), c.want, c.desc);
  t.throws(() => routeCommand({ destination: 'everywhere', gateway: '', device: '', source: '' }, 0), InvalidArgumentError, 'bad destination');
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
