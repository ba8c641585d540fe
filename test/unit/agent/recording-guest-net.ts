// The addon's guest network calls as a test double that records each call
// (its name, then its arguments) instead of touching a network.

import type { GuestNetCalls } from '../../../common/native/rtnetlink';

export function recordingGuestNet(): { net: GuestNetCalls; calls: unknown[][] } {
  const calls: unknown[][] = [];
  const rec =
    (name: string) =>
    (...args: unknown[]): void => {
      calls.push([name, ...args]);
    };
  const net: GuestNetCalls = {
    linkSetUp: rec('linkSetUp'),
    linkSetMtu: rec('linkSetMtu'),
    linkRename: rec('linkRename'),
    addrFlush: rec('addrFlush'),
    addrAdd: rec('addrAdd'),
    routeReplace: rec('routeReplace'),
    setRealtimeClock: rec('setRealtimeClock'),
  };
  return { net, calls };
}
