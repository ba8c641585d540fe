// Syscalls the in-guest agent and the daemon need and Node lacks, from the
// vsock.node addon. All are synchronous and none of them touches the thread
// pool: the agent calls them at guest start-up and shut-down, where it has
// nothing else to do; the daemon calls mount, umount and newNetns, none of
// which waits on I/O (src/host/mount-calls.ts, src/network/netns.ts).
// They throw a Node-style error (code, errno, syscall, path) on failure.

import { loadAddon } from './addon';

/** mount(2) flag bits, as the kernel defines them. */
export const MS = {
  RDONLY: 1,
  NOSUID: 2,
  NODEV: 4,
  NOEXEC: 8,
  REMOUNT: 32,
  BIND: 4096,
  REC: 16384,
  PRIVATE: 1 << 18,
  SLAVE: 1 << 19,
  SHARED: 1 << 20,
  RELATIME: 1 << 21,
} as const;

/** umount2(2) flags. */
export const MNT = { FORCE: 1, DETACH: 2 } as const;

/** mount(2). `data` is the fs-specific option string (e.g. "trans=virtio,version=9p2000.L"). */
export function mount(source: string, target: string, fstype: string, flags = 0, data: string | null = null): void {
  loadAddon().mount(source, target, fstype, flags, data);
}

/** unshare(CLONE_NEWNET) on a thread of its own, the namespace bind-mounted on the existing file `pin`, loopback up. */
export function newNetns(pin: string): void {
  loadAddon().newNetns(pin);
}

/** umount2(2). */
export function umount(target: string, flags = 0): void {
  loadAddon().umount(target, flags);
}

/** sync(2) then reboot(RB_POWER_OFF). Returns only by throwing (e.g. EPERM outside PID 1's privileges). */
export function powerOff(): never {
  loadAddon().powerOff();
  throw new Error('reboot(RB_POWER_OFF) returned without powering off');
}
