// The guest's network set-up and clock as system calls, from the vsock.node
// addon (native/vsock/rtnetlink.cc): one rtnetlink request per `ip` command
// line that the agent used to run through busybox, with the message busybox
// sends, and clock_settime for `date -s`. The in-guest agent uses them at
// CreateSandbox, UpdateInterface and UpdateRoutes (agent/src/network.ts),
// where a fork of the agent costs tens of ms of guest CPU under TCG.
// Synchronous and quick (one netlink round trip each); each throws a
// Node-style error (code, errno, syscall) naming the object on failure.

import { loadAddon, type NativeAddon } from './addon';

const NAMES = ['linkSetUp', 'linkSetMtu', 'linkRename', 'addrFlush', 'addrAdd', 'routeReplace', 'setRealtimeClock'] as const;

export type GuestNetCalls = Required<Pick<NativeAddon, (typeof NAMES)[number]>>;

/**
 * The addon's calls, or undefined when this machine has no addon or one built
 * before them (an agent bundle newer than its guest's addon): the caller then
 * runs busybox as before.
 */
export function guestNetCalls(): GuestNetCalls | undefined {
  let addon: NativeAddon;
  try {
    addon = loadAddon();
  } catch {
    return undefined;
  }
  return NAMES.every((n) => typeof addon[n] === 'function') ? (addon as GuestNetCalls) : undefined;
}
