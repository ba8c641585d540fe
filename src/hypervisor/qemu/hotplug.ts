// Hot-plug on a QEMU VM: a neutral VmDevice becomes one of the QEMU device
// kinds the command line also uses (devices/), whose module gives the QMP
// plan; this module runs plans. Adding runs the steps in order and, when
// one fails, takes back the ones already done (newest first) before
// throwing; removing waits for QEMU's DEVICE_DELETED before deleting the
// backend the device used.

import { DeadlineExceededError, InternalError, UnavailableError } from '../../../common/errors';
import type { Logger } from '../../log';
import type { AccelKind } from '../vm-config';
import type { VmDevice } from '../vm-device';
import type { HotplugDevice, HotplugPlan, QmpCommand } from './devices';
import { SERIAL_BUS } from './devices/virtio-serial-agent';
import { QmpCommandError, type QmpClient } from './qmp';

/** How long the guest gets to release a device on device_del (ACPI eject under pc). */
export const DEFAULT_UNPLUG_TIMEOUT_MS = 10_000;

/** What running a plan needs of the QMP client (a fake in unit tests). */
export type QmpPort = Pick<QmpClient, 'execute' | 'executeWithFd' | 'waitForEvent'>;

/** A hot-plug or unplug that failed; `step` is the QMP command that failed, `undone` what was taken back. */
export class DeviceHotplugError extends InternalError {
  constructor(
    readonly device: string,
    readonly step: string,
    readonly undone: string[],
    message: string,
    cause: unknown,
  ) {
    super(message, { cause });
  }
}

/** The QEMU device for a neutral one. vhost-net only with kvm, as on the command line. Pure. */
export function qemuDevice(d: VmDevice, accel: AccelKind | undefined): HotplugDevice {
  switch (d.kind) {
    case 'net':
      return { kind: 'tap-net', id: d.id, tap: d.tap, mac: d.mac.toLowerCase(), vhost: accel === 'kvm' };
    case 'vsock':
      return { kind: 'vsock', id: d.id, cid: d.cid };
    case 'block':
      return { kind: 'virtio-blk', id: d.id, path: d.path, format: d.format, readOnly: d.readOnly };
    case 'serial-port':
      return { kind: 'virtio-serial-port', id: d.id, socketPath: d.socketPath, name: d.name, bus: SERIAL_BUS };
  }
}

const describe = (c: QmpCommand): string => `${c.execute} ${JSON.stringify(c.arguments)}`;

/** Run `plan.plug`; on failure undo the steps done, newest first, and throw DeviceHotplugError. */
export async function plugDevice(qmp: QmpPort, plan: HotplugPlan, what: string, log: Logger): Promise<void> {
  const done: QmpCommand[] = [];
  for (const step of plan.plug) {
    try {
      if (step.fd !== undefined) await qmp.executeWithFd(step.execute, step.arguments, step.fd);
      else await qmp.execute(step.execute, step.arguments);
    } catch (err) {
      const undone: string[] = [];
      for (const u of done.reverse()) {
        try {
          await qmp.execute(u.execute, u.arguments);
          undone.push(u.execute);
        } catch (undoErr) {
          // Left behind in QEMU until the VM ends; the pod start fails either way.
          log.warn({ err: undoErr, undo: describe(u) }, 'hot-plug undo failed');
        }
      }
      throw new DeviceHotplugError(plan.id, step.execute, undone, `${what}: ${step.execute} failed: ${(err as Error).message}${undone.length ? `; undone: ${undone.join(', ')}` : ''}`, err);
    }
    if (step.undo) done.push(step.undo);
  }
}

/**
 * Run `plan.unplug`. A step whose object QEMU no longer knows counts as
 * done (an earlier removal got that far). A device_del is done when
 * DEVICE_DELETED arrives, within `timeoutMs`.
 */
export async function unplugDevice(qmp: QmpPort, plan: HotplugPlan, what: string, timeoutMs: number): Promise<void> {
  for (const step of plan.unplug) {
    const id = step.untilDeleted;
    // Subscribed before the command: QEMU sends the event before its reply when nothing waits on the guest.
    const deleted = id === undefined ? undefined : qmp.waitForEvent((e) => e.event === 'DEVICE_DELETED' && e.data.device === id, timeoutMs, `DEVICE_DELETED for ${id}`);
    try {
      await qmp.execute(step.execute, step.arguments);
    } catch (err) {
      deleted?.cancel();
      if (step.goneClass && err instanceof QmpCommandError && err.errorClass === step.goneClass) continue;
      throw new DeviceHotplugError(plan.id, step.execute, [], `${what}: ${step.execute} failed: ${(err as Error).message}`, err);
    }
    if (deleted) {
      try {
        await deleted.event;
      } catch (err) {
        if (err instanceof DeadlineExceededError) {
          throw new DeadlineExceededError(
            `${what}: not released within ${timeoutMs} ms of ${step.execute} (a PCI device leaves a running guest when the guest ejects it over ACPI); remove it again later, or stop the VM`,
            { cause: err },
          );
        }
        throw new UnavailableError(`${what}: ${(err as Error).message}`, { cause: err });
      }
    }
  }
}
