import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { detectAccel, probeArgs, PROBE_MARKER, resolveAgentTransport, vhostVsockUsable } from '../../../../src/hypervisor/qemu/accel';
import { InvalidArgumentError } from '../../../../common/errors';
import type { Accel } from '../../../../src/config/types';

function tmp(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-accel-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

t.test('explicit accel is taken as configured, without probing', async (t) => {
  for (const a of ['kvm', 'tcg'] as const) {
    t.same(await detectAccel(a, { qemuBinary: '/nonexistent/qemu', kvmDevice: '/nonexistent/kvm' }), { accel: a, reason: 'configured' });
  }
});

t.test('unknown accel value is refused', async (t) => {
  await t.rejects(detectAccel('hvf' as Accel, { qemuBinary: 'q' }), InvalidArgumentError);
});

t.test('auto without a kvm device is tcg', async (t) => {
  const v = await detectAccel('auto', { qemuBinary: 'q', kvmDevice: '/nonexistent/kvm' });
  t.equal(v.accel, 'tcg');
  t.match(v.reason, /missing/);
});

t.test('auto with a kvm device but no kernel to prove it is tcg, and the verdict is cached', async (t) => {
  const dir = tmp(t);
  const dev = join(dir, 'kvm');
  writeFileSync(dev, '');
  const cacheFile = join(dir, 'accel.json');
  const v1 = await detectAccel('auto', { qemuBinary: 'q', kvmDevice: dev, cacheFile });
  t.equal(v1.accel, 'tcg');
  t.match(v1.reason, /no guest kernel/);
  const v2 = await detectAccel('auto', { qemuBinary: 'q', kvmDevice: dev, cacheFile });
  t.match(v2.reason, /\(cached\)$/, 'second call served from cache');
  const v3 = await detectAccel('auto', { qemuBinary: 'other-qemu', kvmDevice: dev, cacheFile });
  t.notMatch(v3.reason, /cached/, 'a different qemu binary invalidates the cache');
});

t.test('a kernel that never prints the marker is tcg (probe with a qemu stand-in that exits)', async (t) => {
  const dir = tmp(t);
  const dev = join(dir, 'kvm');
  writeFileSync(dev, '');
  const v = await detectAccel('auto', { qemuBinary: '/bin/true', kernel: join(dir, 'vmlinux'), kvmDevice: dev, timeoutMs: 2000 });
  t.equal(v.accel, 'tcg');
  t.match(v.reason, /did not get through early boot/);
});

t.test('probe argv: kvm, no reboot, console to the file, kernel panics without root', async (t) => {
  const a = probeArgs('/k', '/c.log');
  t.same(a.slice(a.indexOf('-accel'), a.indexOf('-accel') + 2), ['-accel', 'kvm']);
  t.ok(a.includes('-no-reboot'));
  t.ok(a.includes('file,id=console,path=/c.log'));
  t.match(a[a.indexOf('-append') + 1], /panic=-1/);
  t.equal(PROBE_MARKER, 'Kernel panic - not syncing');
});

t.test('vhost-vsock missing is unusable', async (t) => {
  t.equal(vhostVsockUsable('/nonexistent/vhost-vsock'), false);
});

const transports: Array<{ desc: string; req: 'auto' | 'vsock' | 'serial'; usable: boolean; expect: string }> = [
  { desc: 'auto with vsock', req: 'auto', usable: true, expect: 'vsock' },
  { desc: 'auto without vsock', req: 'auto', usable: false, expect: 'serial' },
  { desc: 'explicit serial', req: 'serial', usable: true, expect: 'serial' },
  { desc: 'explicit vsock', req: 'vsock', usable: false, expect: 'vsock' },
];
for (const c of transports) {
  t.test(`agent transport: ${c.desc}`, async (t) => {
    t.equal(resolveAgentTransport(c.req, c.usable), c.expect);
  });
}

t.test('probe argv under tcg uses the tcg CPU model', async (t) => {
  const a = probeArgs('/k', '/c.log', 'tcg');
  t.same(a.slice(a.indexOf('-accel'), a.indexOf('-accel') + 4), ['-accel', 'tcg', '-cpu', 'max']);
});
