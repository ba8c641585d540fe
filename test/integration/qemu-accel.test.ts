// The kvm probe against real QEMU and the built guest kernel. The positive
// control (the same probe under tcg must see the kernel's panic) shows the
// probe can say yes; the kvm verdict itself depends on the host and is
// checked for shape and cache behaviour only. On the development machines
// it is tcg: QEMU aborts on an MSR the nested KVM refuses.

import t from 'tap';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { detectAccel, probeGuestBoot } from '../../src/hypervisor/qemu/accel';
import { findGuestImage, guestPartPath } from '../../src/host/guest-image';

const QEMU = '/usr/bin/qemu-system-x86_64';
const found = findGuestImage(process.env.VMPOD_GUEST_DIR);
if (!existsSync(QEMU)) t.fail(`missing component: qemu-system-x86 (${QEMU})`);
if ('missing' in found) {
  t.fail(`accel probe test needs the guest kernel: ${found.missing}`);
} else {
  const kernel = guestPartPath(found, 'vmlinux');
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-accel-it-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));

  t.test('positive control: the probe sees a kernel boot under tcg', async (t) => {
    t.equal(await probeGuestBoot(QEMU, kernel, 'tcg', 90_000), true);
  });

  t.test('auto resolves to a verdict with a reason, cached for the next call', async (t) => {
    const cacheFile = join(dir, 'accel.json');
    const v1 = await detectAccel('auto', { qemuBinary: QEMU, kernel, cacheFile });
    t.comment(`this host: ${v1.accel} (${v1.reason})`);
    t.ok(v1.accel === 'kvm' || v1.accel === 'tcg');
    if (!existsSync('/dev/kvm')) t.equal(v1.accel, 'tcg', 'no /dev/kvm, no kvm');
    const v2 = await detectAccel('auto', { qemuBinary: QEMU, kernel, cacheFile });
    t.equal(v2.accel, v1.accel);
    t.match(v2.reason, /\(cached\)$/);
  });
}
