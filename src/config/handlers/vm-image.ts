// [runtime.handlers.<name>] with type = "vm-image": each pod boots the disk
// its one container's image carries (a KubeVirt containerDisk) in a QEMU VM
// of its own, behind a per-pod qcow2 overlay, with a cloud-init NoCloud disk
// (src/sandbox/vmimage). No vmpod agent runs in the guest: the firmware
// boots the disk. Every key is per handler.

import type { HandlerConfigDef } from '../handler-config';
import type { Accel } from './microvm';

/** What boots the disk: SeaBIOS (legacy BIOS, QEMU's default) or OVMF (UEFI, Debian's `ovmf`). */
export type VmImageFirmware = 'seabios' | 'ovmf';
export type VmImageMachine = 'pc' | 'q35';

/** The VM settings of one vm-image handler. */
export interface VmImageConfig {
  accel: Accel;
  qemu_binary: string;
  firmware: VmImageFirmware;
  machine: VmImageMachine;
  /** The VM's vCPUs and RAM before the container's limits are added (sandbox/microvm/sizing.ts). */
  vcpus: number;
  memory_mib: number;
  /**
   * Each pod's QEMU runs as its own uid from [qemu_uid_base, +qemu_uid_count),
   * allocated from the same file as the microvm handlers' so no two VMs of
   * any type ever share one (hypervisor/qemu-uid.ts).
   */
  qemu_uid_base: number;
  qemu_uid_count: number;
  /** Bound in MiB of QEMU's translated-code buffer under TCG; 0: QEMU's default. */
  tcg_tb_size_mib: number;
  /** The largest cloud-init user-data a pod may give (annotation or file). */
  max_user_data_bytes: number;
}

export interface VmImageHandlerConfig extends VmImageConfig {
  type: 'vm-image';
  [key: string]: unknown;
}

const str = { type: 'string', minLength: 1 } as const;

export const vmImageHandlerConfig: HandlerConfigDef<VmImageHandlerConfig> = {
  type: 'vm-image',
  isolation: 'vm',
  properties: {
    accel: { enum: ['auto', 'kvm', 'tcg'] },
    qemu_binary: str,
    firmware: { enum: ['seabios', 'ovmf'] },
    machine: { enum: ['pc', 'q35'] },
    vcpus: { type: 'integer', minimum: 1, maximum: 64 },
    memory_mib: { type: 'integer', minimum: 128, maximum: 262144 },
    qemu_uid_base: { type: 'integer', minimum: 1000, maximum: 4_294_000_000 },
    qemu_uid_count: { type: 'integer', minimum: 1, maximum: 16_777_216 },
    tcg_tb_size_mib: { type: 'integer', minimum: 0, maximum: 2048 },
    max_user_data_bytes: { type: 'integer', minimum: 1024, maximum: 16 * 1024 * 1024 },
  },
  defaults: () => ({
    type: 'vm-image',
    accel: 'auto',
    qemu_binary: 'qemu-system-x86_64',
    firmware: 'seabios',
    machine: 'pc',
    vcpus: 1,
    // A distribution's cloud image with cloud-init wants more than vmpod's own guest.
    memory_mib: 1024,
    // The microvm handlers' defaults: the same range, the same allocator file.
    qemu_uid_base: 1_900_000_000,
    qemu_uid_count: 65_536,
    tcg_tb_size_mib: 256,
    // Far more than any real user-data; the bound is what the daemon reads from a pod's file or annotation.
    max_user_data_bytes: 1024 * 1024,
  }),
};
