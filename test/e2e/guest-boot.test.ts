// Boots the built guest (guest-image/build) under QEMU TCG and checks from
// its serial console that the guest does what every VM pod relies on: the
// initramfs loads the boot modules (and none of those containers load on
// demand), the rootfs NVDIMM mounts read-only with DAX,
// neither the filesystem nor the device accepts a write, Node.js starts and
// answers the agent's boot selftest, and the VM powers off so QEMU exits. A
// broken rootfs must end the VM with a console message, never hang it.

import t from 'tap';
import { closeSync, copyFileSync, mkdtempSync, openSync, rmSync, truncateSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findGuestImage, guestPartPath, type GuestImage } from '../../src/host/guest-image';
import { findLine, guestQemuArgs, missingForBoot, startGuest, type GuestBootConfig, type GuestRun } from '../helpers/guest-console';

// Generous bounds for a loaded 2-core machine; a healthy boot takes ~10 s.
const BOOT_LIMIT_MS = 120_000;
const FAIL_LIMIT_MS = 90_000;
const FAST: GuestBootConfig = { machine: 'pc', kernel: 'vmlinux', firmware: 'qboot' };

const found = findGuestImage(process.env.VMPOD_GUEST_DIR);
const missing = 'missing' in found ? found.missing : missingForBoot(FAST);
if (missing) {
  t.fail(`guest boot test cannot run: ${missing}`);
} else {
  const img = found as GuestImage;
  t.comment(`guest ${img.dir} (agent: ${img.manifest.agent})`);
  const work = mkdtempSync(join(tmpdir(), 'vmpod-guest-boot-'));
  t.teardown(() => rmSync(work, { recursive: true, force: true }));

  const boot = async (tt: { teardown(fn: () => void): void }, name: string, c: GuestBootConfig, limitMs: number): Promise<GuestRun> => {
    const g = startGuest(guestQemuArgs(img, c), { timeoutMs: limitMs, logPath: join(work, `${name}.console.log`) });
    tt.teardown(() => g.kill());
    return g.done;
  };
  const consoleText = (r: GuestRun): string => r.lines.map((l) => l.text).join('\n');

  t.test('the guest boots, mounts its read-only DAX root, runs Node.js and powers off', async (t) => {
    const run = await boot(t, 'good', { ...FAST, cmdline: ['vmpod.selftest=boot'] }, BOOT_LIMIT_MS);
    const text = consoleText(run);
    t.notOk(run.timedOut, `QEMU exited by itself within ${BOOT_LIMIT_MS / 1000} s`);
    t.equal(run.exitCode, 0, `QEMU exit status (stderr: ${run.stderr.trim()})`);
    t.ok(findLine(run, /^vmpod-init: start kernel=/), 'init ran');
    const mods = findLine(run, /^vmpod-init: modules loaded: (\d+) /);
    t.ok(mods, 'init loaded the modules');
    t.equal(mods ? Number(/loaded: (\d+)/.exec(mods.text)?.[1]) : 0, img.manifest.modules.length, 'every module in the manifest');
    // Each driver the guest boots with is either built into its kernel (vmpod's
    // own, guest-image/kernel) or a module init loaded (Debian's kernel).
    const builtin = img.manifest.modules_builtin ?? [];
    for (const m of ['nd_pmem', 'ext4', 'virtio_pci', '9pnet_virtio', 'vmw_vsock_virtio_transport', 'overlay']) {
      if (builtin.includes(m)) t.notMatch(mods?.text ?? '', `${m}.ko`, `${m} is built in, not loaded`);
      else t.match(mods?.text ?? '', `${m}.ko`, `${m}.ko loaded`);
    }
    t.ok(builtin.length + img.manifest.modules.length >= 6, 'the manifest accounts for the boot drivers');
    // What containers need (bridge, netfilter, …) is loaded on demand, never at boot:
    // boot time must not grow with it (test/e2e/agent-guest.test.ts loads them).
    t.ok((img.manifest.modules_on_demand ?? []).length > 0, 'the image carries modules to load on demand');
    for (const m of ['bridge.ko', 'veth.ko', 'nf_tables.ko', 'x_tables.ko', 'nf_conntrack.ko', 'tun.ko', 'fuse.ko']) {
      t.notOk(img.manifest.modules.includes(m), `${m} is not a boot module`);
    }
    t.ok(findLine(run, /^vmpod-init: root mounted: \/dev\/pmem0 \/newroot ext4 ro,.*dax=always.*\(queue\/dax=1\)/), 'root mounted ro with dax=always on a DAX-capable pmem0');
    t.notMatch(text, /DAX unsupported/, 'kernel did not refuse DAX');
    t.ok(findLine(run, /^vmpod-init: rootfs read-only: ok \(file write refused, device write refused, ro=1\)/), 'writes to the rootfs and to /dev/pmem0 fail');
    t.ok(findLine(run, /^vmpod-agent: selftest ok node=v\d+\./), 'Node.js runs in the guest and answered the selftest');
    // Under TCG the host asks for V8's interpreter alone (vmpod.jitless=1, TCG_GUEST_PARAMS): init passes it on and Node.js runs with it.
    t.ok(findLine(run, /^vmpod-init: switching root, starting agent \(node --jitless\)$/), 'init starts the agent with --jitless under TCG');
    t.ok(findLine(run, /^vmpod-agent: selftest ok node=v\S+ --jitless$/), 'and the agent runs with it');
    t.notMatch(text, /vmpod-init: FAILED/, 'no init failure');
    t.match(text, /reboot: Power down/, 'guest powered off');
    if (!t.passing()) t.comment(`guest console:\n${text}`);
  });

  const brokenCases: Array<{ desc: string; damage: (path: string) => number; expect: RegExp }> = [
    {
      desc: 'ext4 superblock zeroed',
      damage: (path) => {
        const fd = openSync(path, 'r+');
        writeSync(fd, Buffer.alloc(4096), 0, 4096, img.manifest.parts.rootfs.data_offset);
        closeSync(fd);
        return img.manifest.parts.rootfs.size;
      },
      expect: /^vmpod-init: FAILED: mount \/dev\/pmem0/,
    },
    {
      desc: 'image truncated to its first 16 MiB',
      damage: (path) => {
        truncateSync(path, 16 * 1024 * 1024);
        return 16 * 1024 * 1024;
      },
      expect: /^vmpod-init: FAILED: (mount \/dev\/pmem0|root device \/dev\/pmem0 did not appear)/,
    },
  ];
  for (const c of brokenCases) {
    t.test(`a broken rootfs (${c.desc}) ends the VM with a console message instead of hanging`, async (t) => {
      const broken = join(work, 'broken-rootfs.img');
      copyFileSync(guestPartPath(img, 'rootfs'), broken);
      t.teardown(() => rmSync(broken, { force: true }));
      const size = c.damage(broken);
      const cmdline = ['vmpod.selftest=boot', 'vmpod.root_wait=30'];
      const run = await boot(t, `broken-${brokenCases.indexOf(c)}`, { ...FAST, rootfsPath: broken, rootfsSize: size, cmdline }, FAIL_LIMIT_MS);
      t.notOk(run.timedOut, `QEMU exited by itself within ${FAIL_LIMIT_MS / 1000} s`);
      t.ok(findLine(run, c.expect), `init names what failed: ${findLine(run, /FAILED/)?.text ?? '(no FAILED line)'}`);
      t.ok(findLine(run, /^vmpod-init: powering off/), 'init powers off');
      t.notOk(findLine(run, /selftest ok/), 'the agent never started');
      if (!t.passing()) t.comment(`guest console:\n${consoleText(run)}`);
    });
  }
}
