// The x86_64-specific part of the command line: machine type, firmware,
// accelerator and CPU model. Everything else is architecture-neutral.

import type { AccelKind } from '../../vm-config';

export type MachineType = 'pc' | 'q35';
/**
 * qboot is a minimal firmware that jumps straight into the kernel (measured
 * here: ~2.7 s to init under TCG with a PVH vmlinux vs ~7 s bzImage+SeaBIOS);
 * SeaBIOS is QEMU's default and the fallback, and boots disks (VM-image
 * pods); OVMF boots UEFI disk images.
 */
export type Firmware = 'qboot' | 'seabios' | 'ovmf';

/**
 * Debian's OVMF (package ovmf): code and variables in one image, loaded as
 * a read-only ROM with `-bios`, so UEFI variables live in guest RAM and die
 * with the VM (no file the guest writes to). Under /usr, so in QEMU's jail.
 */
export const OVMF_PATH = '/usr/share/ovmf/OVMF.fd';
export const OVMF_PACKAGE = 'ovmf';

export interface X86Options {
  machine: MachineType;
  firmware: Firmware;
  /** Directory holding qboot.rom (Debian: /usr/share/qemu). */
  firmwareDir: string;
  /** The OVMF image; absent: OVMF_PATH. */
  ovmfPath?: string;
  /**
   * The machine of vmpod's own guest: NVDIMM support (its rootfs). Absent:
   * that. `disk`: a VM-image VM's machine instead, no NVDIMM (its guest has
   * no use for an NFIT) and `graphics=off`, which tells the firmware there
   * is no screen: SeaBIOS then writes its messages (and a boot loader's BIOS
   * text output) to the serial port, the only console such a VM has.
   */
  profile?: 'microvm' | 'disk';
}

export const DEFAULT_X86_OPTIONS: X86Options = {
  machine: 'pc',
  firmware: 'qboot',
  firmwareDir: '/usr/share/qemu',
};

export function machineArgs(o: X86Options, memoryMerge = false): string[] {
  // The accelerator goes in `-accel`, never also in `-machine accel=`: QEMU
  // refuses the two together. mem-merge is spelled out either way: QEMU's own
  // default is on, which would let the host's KSM (if an operator turns it on
  // for anything else) merge this guest's pages with other VMs' unasked.
  const profile = o.profile === 'disk' ? 'graphics=off' : 'nvdimm=on';
  const args = ['-machine', `${o.machine},${profile},mem-merge=${memoryMerge ? 'on' : 'off'}`];
  if (o.firmware === 'qboot') args.push('-bios', `${o.firmwareDir}/qboot.rom`);
  // SeaBIOS: no -bios, QEMU's default bios-256k.bin from its data dirs (under /usr).
  if (o.firmware === 'ovmf') args.push('-bios', o.ovmfPath ?? OVMF_PATH);
  return args;
}

export function accelArgs(accel: AccelKind, vcpus: number, tbSizeMib?: number): string[] {
  if (accel === 'kvm') return ['-accel', 'kvm', '-cpu', 'host'];
  // Multi-threaded TCG only pays with more than one vCPU; with one it would
  // just add a thread. tb-size bounds the translated-code buffer: QEMU
  // flushes it when full, and what it touched stays resident until exit.
  const tb = tbSizeMib !== undefined ? `,tb-size=${tbSizeMib}` : '';
  return ['-accel', `tcg,thread=${vcpus > 1 ? 'multi' : 'single'}${tb}`, '-cpu', 'max'];
}
