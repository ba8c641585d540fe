import t from 'tap';
import { confinedRemountOptions, mountEntriesUnder, mountsUnder } from '../../../../src/sandbox/microvm/share';

const line = (mp: string) => `36 35 0:30 / ${mp} rw,relatime shared:1 - tmpfs tmpfs rw`;

t.test('mounts at or below a dir, deepest first', async (t) => {
  const info = [
    line('/run'),
    line('/run/vmpod/sandboxes/p1/shared'),
    line('/run/vmpod/sandboxes/p1/shared/c/c1/rootfs'),
    line('/run/vmpod/sandboxes/p1/shared/c/c1/m/0'),
    line('/run/vmpod/sandboxes/p10/shared'),
    line('/run/vmpod/sandboxes/p1/shared/c/with\\040space'),
  ].join('\n');
  const cases: [string, string, string[]][] = [
    [
      'the pod dir and everything in it, not its sibling p10',
      '/run/vmpod/sandboxes/p1',
      ['/run/vmpod/sandboxes/p1/shared/c/c1/rootfs', '/run/vmpod/sandboxes/p1/shared/c/with space', '/run/vmpod/sandboxes/p1/shared/c/c1/m/0', '/run/vmpod/sandboxes/p1/shared'],
    ],
    ['a mount point itself is included', '/run/vmpod/sandboxes/p10/shared', ['/run/vmpod/sandboxes/p10/shared']],
    ['nothing mounted there', '/srv', []],
  ];
  for (const [desc, dir, want] of cases) {
    const got = mountsUnder(dir, info);
    t.same([...got].sort(), [...want].sort(), desc);
    t.same(
      got.map((m) => m.length),
      [...got.map((m) => m.length)].sort((a, b) => b - a),
      `${desc}: deepest first`,
    );
  }
});

t.test('what the guest reaches through 9p is remounted nodev,nosuid, keeping ro and the other flags', async (t) => {
  const cases: [string, string[], boolean, string][] = [
    ['writable volume', ['rw', 'relatime'], false, 'remount,bind,rw,nosuid,nodev,relatime'],
    ['read-only volume', ['rw', 'relatime'], true, 'remount,bind,ro,nosuid,nodev,relatime'],
    ['a submount that is read-only already stays so in a writable volume', ['ro', 'nosuid', 'noexec', 'noatime'], false, 'remount,bind,ro,nosuid,nodev,noexec,noatime'],
  ];
  for (const [desc, current, ro, want] of cases) t.equal(confinedRemountOptions(current, ro), want, desc);
  const info = ['36 35 0:30 / /s/v rw,relatime shared:1 - tmpfs tmpfs rw', '37 36 0:31 / /s/v/sub ro,nosuid shared:2 - tmpfs tmpfs rw'].join('\n');
  t.same(
    mountEntriesUnder('/s/v', info),
    [
      { path: '/s/v', options: ['rw', 'relatime'] },
      { path: '/s/v/sub', options: ['ro', 'nosuid'] },
    ],
    'entries with their per-mount options, parents first',
  );
});
