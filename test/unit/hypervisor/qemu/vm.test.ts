import t from 'tap';
import { exitReason, toVmEvent } from '../../../../src/hypervisor/qemu/vm-events';
import type { VmEvent } from '../../../../src/hypervisor/hypervisor';

const events: Array<{ desc: string; event: string; data: Record<string, unknown>; expect: VmEvent | undefined }> = [
  { desc: 'guest shutdown', event: 'SHUTDOWN', data: { guest: true, reason: 'guest-shutdown' }, expect: { type: 'shutdown', guestInitiated: true, reason: 'guest-shutdown' } },
  { desc: 'host quit', event: 'SHUTDOWN', data: { guest: false, reason: 'host-qmp-quit' }, expect: { type: 'shutdown', guestInitiated: false, reason: 'host-qmp-quit' } },
  { desc: 'shutdown with junk data', event: 'SHUTDOWN', data: { guest: 'yes', reason: 5 }, expect: { type: 'shutdown', guestInitiated: false, reason: 'unknown' } },
  { desc: 'panic', event: 'GUEST_PANICKED', data: { action: 'pause' }, expect: { type: 'guest-panicked', detail: 'pause' } },
  { desc: 'powerdown', event: 'POWERDOWN', data: {}, expect: { type: 'powerdown' } },
  { desc: 'reset', event: 'RESET', data: { guest: true }, expect: { type: 'reset', guestInitiated: true } },
  { desc: 'stop', event: 'STOP', data: {}, expect: { type: 'stop' } },
  { desc: 'ignored event', event: 'RTC_CHANGE', data: {}, expect: undefined },
];
for (const c of events) {
  t.test(`toVmEvent: ${c.desc}`, async (t) => {
    t.same(toVmEvent({ event: c.event, data: c.data, timestamp: 0 }), c.expect);
  });
}

const reasons: Array<{ desc: string; last: VmEvent | undefined; signal: string | null; expect: string }> = [
  { desc: 'panic event', last: { type: 'guest-panicked', detail: '' }, signal: null, expect: 'guest-panicked' },
  { desc: 'shutdown after panic (-no-reboot)', last: { type: 'shutdown', guestInitiated: true, reason: 'guest-panic' }, signal: null, expect: 'guest-panicked' },
  { desc: 'guest reset under -no-reboot', last: { type: 'shutdown', guestInitiated: true, reason: 'guest-reset' }, signal: null, expect: 'guest-reset' },
  { desc: 'guest poweroff', last: { type: 'shutdown', guestInitiated: true, reason: 'guest-shutdown' }, signal: null, expect: 'guest-shutdown' },
  { desc: 'qmp quit', last: { type: 'shutdown', guestInitiated: false, reason: 'host-qmp-quit' }, signal: null, expect: 'host-quit' },
  { desc: 'SIGKILL with no event', last: undefined, signal: 'SIGKILL', expect: 'killed' },
  { desc: 'vanished without a trace', last: undefined, signal: null, expect: 'unknown' },
];
for (const c of reasons) {
  t.test(`exitReason: ${c.desc}`, async (t) => {
    t.equal(exitReason(c.last, c.signal), c.expect);
  });
}
