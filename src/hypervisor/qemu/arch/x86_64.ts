// The x86_64-specific part of the command line: machine type, firmware,
// accelerator and CPU model. Everything else is architecture-neutral.

import type { AccelKind } from '../../vm-config';

export type MachineType = 'pc' | 'q35';
/**
 * qboot is a minimal firmware that jumps straight into the kernel (measured
 * here: ~2.7 s to init under TCG with a PVH vmlinux vs ~7 s bzImage+SeaBIOS);
 * SeaBIOS is QEMU's default and the fallback.
 */
export type Firmware = 'qboot' | 'seabios';

export interface X86Options {
  machine: MachineType;
  firmware: Firmware;
  /** Directory holding qboot.rom (Debian: /usr/share/qemu). */
  firmwareDir: string;
}

export const DEFAULT_X86_OPTIONS: X86Options = {
  machine: 'pc',
  firmware: 'qboot',
  firmwareDir: '/usr/share/qemu',
};

export function machineArgs(o: X86Options): string[] {
  // The accelerator goes in `-accel`, never also in `-machine accel=`: QEMU
  // refuses the two together.
  const args = ['-machine', `${o.machine},nvdimm=on`];
  if (o.firmware === 'qboot') args.push('-bios', `${o.firmwareDir}/qboot.rom`);
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
