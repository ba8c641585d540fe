import t from 'tap';
import { interfaceCommands, routeCommand } from '../../../agent/src/network';
import { ninePMountArgs } from '../../../agent/src/mounts';
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
