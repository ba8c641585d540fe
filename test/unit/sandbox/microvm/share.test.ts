import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bindInto, confinedRemountOptions, makeMountPoint, mountEntriesUnder, mountShare, mountsUnder, stagingFor } from '../../../../src/sandbox/microvm/share';

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

// Real mounts (the unit tests run as root). A `mount` first in PATH runs the
// real one and then records every mount under the exported share with its
// options, so that each state a running guest could have seen is checked,
// not only the end state. The state dir is a shared mount, as /run is under
// systemd: moving a mount out of a shared parent is refused by the kernel.
t.test('a bind enters the share already nodev,nosuid (and ro when asked), submounts included', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-share-'));
  const state = join(dir, 'state');
  const vol = join(dir, 'vol');
  const snapshots = join(dir, 'snapshots');
  const wrapper = join(dir, 'bin');
  const podDir = join(state, 'sandboxes', 'p1');
  const shareSource = join(podDir, 'share-src');
  const shared = join(podDir, 'shared');
  const sh = (cmd: string) => execFileSync('sh', ['-c', cmd]);
  const oldPath = process.env.PATH;
  t.teardown(() => {
    process.env.PATH = oldPath;
    sh(`grep -o ' ${dir}[^ ]*' /proc/self/mounts | sort -r | xargs -r -n1 umount -l`);
    rmSync(dir, { recursive: true, force: true });
  });
  for (const d of [state, vol, wrapper]) mkdirSync(d, { recursive: true });
  sh(`mount -t tmpfs tmpfs ${state} && mount --make-shared ${state}`);
  // The volume: a tmpfs with suid and dev allowed, a writable submount, a set-id file.
  sh(`mount -t tmpfs tmpfs ${vol} && mkdir ${vol}/sub && mount -t tmpfs tmpfs ${vol}/sub && touch ${vol}/su && chmod 4755 ${vol}/su && echo s > ${vol}/secret`);
  writeFileSync(join(wrapper, 'mount'), `#!/bin/sh\n/usr/bin/mount "$@" || exit $?\necho "== mount $*" >> ${snapshots}\ngrep ' ${shared}/c' /proc/self/mountinfo | cut -d' ' -f5,6 >> ${snapshots}\n`, {
    mode: 0o755,
  });
  process.env.PATH = `${wrapper}:${oldPath ?? ''}`;

  await mountShare(shareSource, shared);
  t.equal(statSync(podDir).mode & 0o7777, 0o700, 'the pod dir is 0700');
  const shareLine = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' '))
    .find((f) => f[4] === shared);
  t.ok(shareLine, 'the exported share is a mount of its own');
  const stateGroup = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' '))
    .find((f) => f[4] === state)?.[6];
  t.same(
    shareLine?.[5].split(',').filter((o) => ['ro', 'nosuid', 'nodev'].includes(o)),
    ['ro', 'nosuid', 'nodev'],
    'the exported share is ro,nosuid,nodev',
  );
  t.match(shareLine?.[6] ?? '', /^shared:\d+$/, 'the exported share is shared (binds below it reach the jail)');
  t.not(shareLine?.[6], stateGroup, "in a peer group of its own, not the state dir's");
  t.ok(mountsUnder(join(podDir, 'staging')).includes(join(podDir, 'staging')), 'the staging dir is a mount of its own');
  const cases = [
    { desc: 'read-only directory volume with a submount', rel: 'c/c1/m/0', source: vol, ro: true, want: ['nodev', 'nosuid', 'ro'] },
    { desc: 'writable directory volume', rel: 'c/c1/m/1', source: vol, ro: false, want: ['nodev', 'nosuid'] },
    { desc: 'a single file', rel: 'c/c1/m/2', source: join(vol, 'secret'), ro: true, want: ['nodev', 'nosuid', 'ro'] },
  ];
  for (const c of cases) {
    await makeMountPoint(shareSource, c.rel, c.source);
    await bindInto(c.source, join(shared, c.rel), c.ro);
  }
  const lines = readFileSync(snapshots, 'utf8').split('\n');
  const seen = lines.filter((l) => l.startsWith(`${shared}/`));
  t.ok(seen.length > 0, `the wrapper recorded the share's mounts (${seen.length} observations)`);
  for (const c of cases) {
    const target = join(shared, c.rel);
    const of = seen.filter((l) => l.split(' ')[0] === target || l.startsWith(`${target}/`));
    t.ok(of.length > 0, `${c.desc}: seen in the share`);
    const bad = of.filter((l) => !c.want.every((f) => (l.split(' ')[1] ?? '').split(',').includes(f)));
    t.same(bad, [], `${c.desc}: never in the share without ${c.want.join(',')}`);
  }
  t.ok(
    mountEntriesUnder(join(shared, 'c/c1/m/0')).some((m) => m.path.endsWith('/sub') && m.options.includes('ro')),
    'the submount came along, read-only',
  );
  t.same(readdirSync(join(podDir, 'staging')), [], 'nothing left in the staging dir');
  t.same(mountsUnder(join(podDir, 'staging')), [join(podDir, 'staging')], 'the staging dir holds no mount but its own');

  const missing = join(dir, 'no-such-volume');
  mkdirSync(join(shareSource, 'c/c1/m/3'), { recursive: true });
  await t.rejects(bindInto(missing, join(shared, 'c/c1/m/3'), false), /mount/, 'a failed bind is an error');
  t.same(mountsUnder(join(shared, 'c/c1/m/3')), [], 'and leaves nothing mounted on its target');
  t.same(readdirSync(join(podDir, 'staging')), [], 'nor anything in the staging dir');
});

t.test('the staging dir is found beside the share mount that holds the target', async (t) => {
  const info = [line('/'), line('/run'), line('/s/sandboxes/p1/shared'), line('/s/sandboxes/p1/shared/c/shared/rootfs')].join('\n');
  t.equal(stagingFor('/s/sandboxes/p1/shared/c/shared/m/0', info), '/s/sandboxes/p1/staging', 'a container named "shared" does not confuse it');
  t.throws(() => stagingFor('/elsewhere/x', [line('/')].join('\n')), /not inside a mounted pod share/, 'a target outside any share is refused');
});
