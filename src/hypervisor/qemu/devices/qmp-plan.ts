// The QMP side of a device: the commands that hot-plug it and those that
// unplug it, as data. Each device module builds its plan next to its argv,
// so the command line and the hot-plug path describe a device the same way;
// hotplug-run.ts executes plans. Pure.

export interface QmpCommand {
  execute: string;
  arguments: Record<string, unknown>;
}

export interface PlugStep extends QmpCommand {
  /** Descriptor sent with the command (SCM_RIGHTS), for getfd. */
  fd?: number;
  /** What takes this step back if a later one fails. */
  undo?: QmpCommand;
}

export interface UnplugStep extends QmpCommand {
  /** QMP error class meaning the object is already gone: the step counts as done. */
  goneClass?: 'DeviceNotFound';
  /** The step is done when QEMU reports DEVICE_DELETED for this device id, not when it replies. */
  untilDeleted?: string;
}

export interface HotplugPlan {
  /** The QEMU device id (what query-pci and /machine/peripheral show). */
  id: string;
  plug: PlugStep[];
  unplug: UnplugStep[];
}

export function command(execute: string, args: Record<string, unknown>): QmpCommand {
  return { execute, arguments: args };
}

/**
 * device_del, done when QEMU says the device is gone: a PCI device in a
 * running guest leaves only once the guest ejected it (ACPI), and its
 * backend cannot go before. An id QEMU does not know was already removed.
 */
export function deviceDel(id: string): UnplugStep {
  return { ...command('device_del', { id }), goneClass: 'DeviceNotFound', untilDeleted: id };
}
