// The vsock addon inside a real guest: boots the image this checkout built
// (dist/guest-image.json, or $VMPOD_GUEST_DIR)
// under QEMU TCG with a throw-away initramfs that runs
// test/guest/vsock-selftest.ts over vsock_loopback (CID 1) — concurrent
// connections, a checksummed bulk transfer, half-close, ECONNREFUSED,
// EADDRINUSE, peer reset — and powers off. Nothing leaves the guest.

import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { findGuestImage } from '../../src/host/guest-image';

const repo = join(__dirname, '..', '..', '..');
const script = join(repo, 'test', 'guest', 'boot-vsock-selftest.sh');
const found = findGuestImage(process.env.VMPOD_GUEST_DIR);
const addon = join(repo, 'native', 'vsock', 'build', 'Release', 'vsock.node');

t.test('vsock selftest passes inside the guest', async (t) => {
  const missing = [
    ...('missing' in found ? [['', `the guest image: ${found.missing}`]] : []),
    [addon, 'the vsock addon (scripts/build-native)'],
    ['/usr/bin/qemu-system-x86_64', 'QEMU (apt-get install qemu-system-x86)'],
  ].filter(([p]) => !p || !existsSync(p));
  if (missing.length > 0) {
    t.fail(`missing: ${missing.map(([p, what]) => (p ? `${what} at ${p}` : what)).join('; ')}`);
    return;
  }
  // 16 MiB and 20 connections keep the run near 30 s under TCG; the script's
  // defaults (64 MiB, 50) are for a by-hand run.
  // Own process group, so that teardown can stop the script and its QEMU
  // together, by the group id of the process we started.
  const child = spawn(script, ['16', '20'], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
  });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (out += s));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const lines = out.split(/\r?\n/).filter((l) => l.startsWith('vsock-selftest:'));
  for (const l of lines) t.comment(l);
  t.equal(lines.at(-1), 'vsock-selftest: PASS', 'last selftest line is PASS');
  t.equal(code, 0, 'boot script exit code');
  t.ok(lines.length >= 7, 'every step reported');
});
