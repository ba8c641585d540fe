import t from 'tap';
import { linkNamesNamespace, parseNetDev, podNetworkFigures } from '../../../src/network/net-dev';

const SAMPLE = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     840      12    0    0    0     0          0         0      840      12    0    0    0     0       0          0
  eth0: 123456789  9876    3    1    0     0          0         0 98765   4321    2    0    0     0       0          0
tap0_vmpod:   98765    4321    0    0    0     0          0         0 123456789   9876    0    0    0     0       0          0
  net1:10     1    0    0    0     0          0         0       20       2    7    0    0     0       0          0
`;

t.test('parseNetDev reads bytes and errors of every interface, including a name glued to its first figure', async (t) => {
  const all = parseNetDev(SAMPLE);
  t.same(
    all.map((i) => i.name),
    ['lo', 'eth0', 'tap0_vmpod', 'net1'],
  );
  t.same(all[1], { name: 'eth0', rxBytes: 123456789, rxErrors: 3, txBytes: 98765, txErrors: 2 }, 'eth0: rx bytes, rx errs, tx bytes, tx errs');
  t.same(all[3], { name: 'net1', rxBytes: 10, rxErrors: 0, txBytes: 20, txErrors: 7 }, 'a wide figure leaves no space after the colon');
});

t.test('parseNetDev skips headers, blank and malformed lines', async (t) => {
  t.same(parseNetDev('Inter-| Receive\n face |bytes\n\nbad: 1 2 3\n  x: a b c d e f g h i j k\n'), []);
});

t.test('podNetworkFigures: eth0 is the default, loopback and the VM tap (eth0 mirrored) are left out', async (t) => {
  const n = podNetworkFigures(parseNetDev(SAMPLE), '42');
  t.equal(n.timestampNs, '42');
  t.equal(n.defaultInterface?.name, 'eth0');
  t.same(
    n.interfaces.map((i) => i.name),
    ['eth0', 'net1'],
  );
});

t.test('podNetworkFigures without eth0 has no default interface', async (t) => {
  const n = podNetworkFigures(
    parseNetDev(SAMPLE).filter((i) => i.name !== 'eth0'),
    '1',
  );
  t.equal(n.defaultInterface, undefined);
  t.same(
    n.interfaces.map((i) => i.name),
    ['net1'],
  );
});

t.test('linkNamesNamespace: only the pin inode itself matches a /proc/<pid>/ns/net link', async (t) => {
  t.ok(linkNamesNamespace('net:[4026532281]', 4026532281n), 'same inode (bigint stat)');
  t.ok(linkNamesNamespace('net:[4026532281]', 4026532281), 'same inode (number)');
  t.notOk(linkNamesNamespace('net:[4026531840]', 4026532281n), 'another namespace: a recycled pid');
  t.notOk(linkNamesNamespace('mnt:[4026532281]', 4026532281n), 'not a network namespace');
  t.notOk(linkNamesNamespace('net:[40265322810]', 4026532281n), 'a longer number');
});
