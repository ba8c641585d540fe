// A VM template (`template = true` on a microvm handler): one guest booted
// once to agent-ready, as a pool VM is (pool.ts), then stopped and its
// devices and vCPUs saved to a state file (~200 KiB); its RAM is a memfd the
// daemon holds. Every VM the handler needs after that is restored from it:
// QEMU maps the memfd copy-on-write, loads the state and the guest runs on
// from where the template stopped, without a boot. Pages a restored guest
// only reads stay one copy for all VMs of the template.
//
// What keeps the template the template: the memfd is sealed (no write, no
// shrink, no grow, no further seal) once the template's own QEMU is gone.
// QEMU 7.2 opens its RAM file read-write even to map it privately, so a
// restored QEMU, which is hostile (it runs a guest), holds a writable fd;
// the seals make the kernel refuse every way it could change what later VMs
// start from: write(2), a shared writable mapping, ftruncate, and the hole
// free page reporting would punch (which is why that is off for template
// VMs, the template's own included: both sides of a restore must have the
// same devices).
//
// What each restored VM has of its own, from the pool's hand-out: its
// hostname, shares, NIC, agent channel and clock, and its RNG reseeded from
// the host's entropy (CreateSandbox's `entropy`, which every pod's guest
// gets; the agent credits it and has the kernel reseed at once). QEMU's
// vmgenid device would tell the kernel itself, but qboot, the firmware the
// template boots with, cannot load its ACPI tables (it refuses the linker
// command vmgenid needs). What all VMs of a template share (docs/security.md): the
// kernel's state at the save (KASLR offset, stack canaries, slab layout, the
// agent process; the agent uses no randomness) and the host page cache of
// the memfd, a timing side channel as KSM's is. Hence opt-in.
//
// A template lives as long as the daemon's pool: close() closes the memfd
// (VMs restored from it keep their mappings) and removes the state file. A
// daemon start builds a new one from the handler's guest image of then, so
// a rebuilt guest image gets a new template.

import { closeSync, rmSync } from 'node:fs';
import { constants as osc } from 'node:os';
import { FailedPreconditionError, InternalError } from '../../../common/errors';
import { loadAddon } from '../../../common/native/addon';
import { sleep } from '../../../common/time';
import type { VmConfig } from '../../hypervisor';

const MIB = 1024 * 1024;

/** What a VM of a template adds to its VmConfig. */
export type TemplateVmConfig = Pick<VmConfig, 'memoryFile' | 'restoreFrom' | 'freePageReporting'>;

/** The template's own boot: its RAM written into the memfd. Pure. */
export function templateBootConfig(memoryFd: number): TemplateVmConfig {
  return { memoryFile: { fd: memoryFd, shared: true }, freePageReporting: false };
}

/** A VM restored from the template: the memfd mapped copy-on-write, the saved state loaded. Pure. */
export function templateRestoreConfig(memoryFd: number, stateFile: string): TemplateVmConfig {
  return { memoryFile: { fd: memoryFd, shared: false }, restoreFrom: stateFile, freePageReporting: false };
}

/** A memfd of `memoryMib` for a template's guest RAM (close-on-exec: only the QEMUs it is passed to get it). */
export function createTemplateMemory(memoryMib: number): number {
  const addon = loadAddon();
  if (!addon.memfdCreate) throw new FailedPreconditionError('VM template: the native addon has no memfd support (built before it); rebuild it with scripts/build-native');
  const fd = addon.memfdCreate('vmpod-template', memoryMib * MIB);
  if (fd < 0) throw new InternalError(`VM template: memfd_create of ${memoryMib} MiB failed (errno ${-fd})`);
  return fd;
}

/** Seal the template's RAM against any change; retried while the template QEMU's shared mapping is still being torn down. */
export async function sealTemplateMemory(fd: number): Promise<void> {
  const addon = loadAddon();
  if (!addon.memfdSealReadOnly) throw new FailedPreconditionError('VM template: the native addon has no memfd support; rebuild it with scripts/build-native');
  for (let i = 0; ; i++) {
    const r = addon.memfdSealReadOnly(fd);
    if (r === 0) return;
    if (r !== -osc.errno.EBUSY || i >= 100) throw new InternalError(`VM template: sealing its RAM failed (errno ${-r}${r === -osc.errno.EBUSY ? ': a writable shared mapping is still there' : ''})`);
    await sleep(20);
  }
}

export class VmTemplate {
  constructor(
    /** The sealed memfd holding the template's guest RAM. */
    readonly memoryFd: number,
    readonly stateFile: string,
  ) {}

  private closed = false;

  restoreConfig(): TemplateVmConfig {
    return templateRestoreConfig(this.memoryFd, this.stateFile);
  }

  /** The daemon's copy of the RAM goes (restored VMs keep theirs), and the state file. Idempotent. */
  close(): void {
    // Once only: the number may belong to another file after the first close.
    if (!this.closed) closeSync(this.memoryFd);
    this.closed = true;
    rmSync(this.stateFile, { force: true });
  }
}
