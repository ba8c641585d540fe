// A pod's netns is made by the native addon on a thread of its own
// (native/vsock/netns.cc): a namespace other than the daemon's, pinned on
// the file, with loopback up, and the daemon's own thread still in the
// daemon's namespace afterwards. deleteNetns unpins it.

import t from 'tap';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadAddon } from '../../../common/native/addon';
import { createNetns, deleteNetns, isMounted } from '../../../src/network/netns';

let addonHere = true;
try {
  loadAddon();
} catch {
  addonHere = false;
}
if (!addonHere) t.fail('missing component: native/vsock/build/Release/vsock.node (scripts/build-native builds it); without it createNetns runs unshare(1)');

t.test('a new netns, pinned, lo up; the daemon stays in its own', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-netns-'));
  const pin = join(dir, 'pins', 'pod1');
  t.teardown(async () => {
    await deleteNetns(pin).catch(() => undefined);
    execFileSync('sh', ['-c', `umount -l ${join(dir, 'pins')} 2>/dev/null || true`]);
    rmSync(dir, { recursive: true, force: true });
  });
  const ours = readlinkSync('/proc/thread-self/ns/net');
  await createNetns(pin);
  t.ok(isMounted(pin), 'the pin is a mount');
  const pinned = statSync(pin).ino;
  t.not(`net:[${pinned}]`, ours, "of a namespace other than the daemon's");
  t.equal(readlinkSync('/proc/thread-self/ns/net'), ours, "the daemon's thread is still in its own namespace");
  t.equal(readlinkSync('/proc/self/ns/net'), ours, 'and so is the process');
  const lo = execFileSync('nsenter', [`--net=${pin}`, 'ip', '-o', 'link', 'show', 'lo']).toString();
  t.match(lo, /<LOOPBACK,UP,LOWER_UP>/, 'loopback is up in it');
  const links = execFileSync('nsenter', [`--net=${pin}`, 'ip', '-o', 'link', 'show'])
    .toString()
    .trim()
    .split('\n');
  t.equal(links.length, 1, 'and it is all there is (a fresh namespace)');
  await deleteNetns(pin);
  t.notOk(existsSync(pin), 'deleteNetns unpins and removes it');
});
