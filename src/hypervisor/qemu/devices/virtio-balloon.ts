import type { VirtioBalloonDevice } from './types';
import { opts } from './opts';

/**
 * A virtio balloon, used here only for free page reporting: the guest
 * kernel (virtio_balloon with CONFIG_PAGE_REPORTING) tells QEMU which
 * 2 MiB-or-larger blocks of its RAM it has freed, and QEMU discards them
 * (MADV_DONTNEED), so memory a guest touched once (boot, a finished
 * container) goes back to the host instead of staying resident in QEMU.
 * Nothing is ever inflated; the guest decides what it reports, and a report
 * only ever frees that guest's own RAM (a page it touches again comes back
 * zeroed), so the host trusts nothing it says. The same device gives guest
 * memory statistics over QMP later.
 */
export function virtioBalloonArgs(d: VirtioBalloonDevice): string[] {
  return [
    '-device',
    opts('virtio-balloon-pci', [
      ['id', d.id],
      ['free-page-reporting', d.freePageReporting ? 'on' : 'off'],
    ]),
  ];
}
