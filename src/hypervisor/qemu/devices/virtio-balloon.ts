import type { VirtioBalloonDevice } from './types';
import { opts } from './opts';

/** The balloon's qdev id: guest figures are read from /machine/peripheral/<id>. */
export const BALLOON_ID = 'balloon0';

/**
 * A virtio balloon, used here for free page reporting and the guest's
 * memory statistics, never inflated. Free page reporting: the guest
 * kernel (virtio_balloon with CONFIG_PAGE_REPORTING) tells QEMU which
 * 2 MiB-or-larger blocks of its RAM it has freed, and QEMU discards them
 * (MADV_DONTNEED), so memory a guest touched once (boot, a finished
 * container) goes back to the host instead of staying resident in QEMU.
 * Nothing is ever inflated; the guest decides what it reports, and a report
 * only ever frees that guest's own RAM (a page it touches again comes back
 * zeroed), so the host trusts nothing it says. Statistics: with
 * guest-stats-polling-interval QEMU asks the guest for its figures at that
 * period and keeps the last answer for QMP's qom-get guest-stats
 * (balloon-stats.ts validates what the guest claims there).
 */
export function virtioBalloonArgs(d: VirtioBalloonDevice): string[] {
  return [
    '-device',
    opts('virtio-balloon-pci', [
      ['id', d.id],
      ['free-page-reporting', d.freePageReporting ? 'on' : 'off'],
      ...(d.statsIntervalS !== undefined ? [['guest-stats-polling-interval', String(d.statsIntervalS)] as [string, string]] : []),
    ]),
  ];
}
