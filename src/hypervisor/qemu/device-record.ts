// The devices hot-plugged into a VM, persisted in its run dir beside the
// launch record, so that a restarted daemon can still remove them by id
// (removal needs the kind: which backend to delete after the device).
// A device is recorded once every step of its hot-plug succeeded and
// forgotten once its removal completed.

import { join } from 'node:path';
import { InternalError } from '../../../common/errors';
import { readJson, writeJsonAtomic } from '../../store/atomic';
import { RUN_FILES } from '../vm-config';
import type { VmDevice } from '../vm-device';

export const DEVICE_RECORD_VERSION = 1;

interface DeviceRecord {
  version: number;
  devices: VmDevice[];
}

export function deviceRecordPath(runDir: string): string {
  return join(runDir, RUN_FILES.deviceRecord);
}

/** The recorded devices; none if the VM never had one hot-plugged. */
export function readDeviceRecord(runDir: string): VmDevice[] {
  const path = deviceRecordPath(runDir);
  let rec: DeviceRecord;
  try {
    rec = readJson<DeviceRecord>(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new InternalError(`vm device record ${path} is unreadable: ${(err as Error).message}`, { cause: err });
  }
  if (rec.version !== DEVICE_RECORD_VERSION || !Array.isArray(rec.devices)) {
    throw new InternalError(`vm device record ${path} has an unknown shape (version ${String(rec.version)})`);
  }
  return rec.devices;
}

export function writeDeviceRecord(runDir: string, devices: VmDevice[]): void {
  writeJsonAtomic(deviceRecordPath(runDir), { version: DEVICE_RECORD_VERSION, devices } satisfies DeviceRecord);
}
