// In-place resize of a running QEMU VM (docs/resize.md).
//
// vCPUs: the VM boots with `-smp N,maxcpus=M`; QEMU then lists M slots in
// query-hotpluggable-cpus, N of them plugged (they carry a qom-path). A
// grow device_adds the lowest free slots; a shrink device_dels the highest
// plugged ones (by QOM path, which works for boot CPUs too) and waits until
// the slot is empty, which it is once the guest ejected the CPU (ACPI). The
// first CPU is never unplugged. Under TCG the VM runs multi-threaded TCG
// when it can hot-plug (cmdline.ts): QEMU 7.2 aborts ("qemu_thread_join:
// Resource deadlock avoided") unplugging a vCPU under single-threaded TCG.
//
// Memory: the VM boots with a virtio-mem device spanning the whole maxmem
// headroom, with requested-size 0. A resize sets requested-size to the RAM
// beyond boot memory; the guest driver plugs or unplugs blocks until the
// device's `size` reaches it. A guest may be unable (or unwilling) to give
// memory back: then `size` stays above requested-size and the shrink fails
// after a timeout, with requested-size set back to what the guest still
// holds so that the VM is not left half-asked.
//
// The command builders and the slot choice are pure and unit-tested; the
// runner below takes a QMP port (a fake in tests).

import { FailedPreconditionError, InternalError } from '../../../common/errors';
import { sleep } from '../../../common/time';
import type { QmpCommand } from './devices';
import type { QmpPort } from './hotplug';

const MIB = 1024 * 1024;
/** The virtio-mem device (and its memory backend) every resizable VM has. */
export const VIRTIO_MEM_ID = 'vmem0';
export const VIRTIO_MEM_BACKEND_ID = 'vmem0-ram';
/** Hot-plugged CPUs are named so (their slot's socket-id after it). */
export const CPU_ID_PREFIX = 'vcpu';
/** How long the guest gets to eject a CPU or to plug/unplug memory blocks. */
export const DEFAULT_RESIZE_TIMEOUT_MS = 30_000;
const POLL_MS = 200;

/** One entry of query-hotpluggable-cpus. */
export interface CpuSlot {
  type: string;
  props: { 'socket-id'?: number; 'core-id'?: number; 'thread-id'?: number; 'die-id'?: number };
  /** Present when a CPU is plugged into the slot. */
  qomPath?: string;
}

/** The -smp argument: N at boot, up to M by hot-plug. Pure. */
export function smpArg(vcpus: number, maxVcpus: number | undefined): string {
  return maxVcpus !== undefined && maxVcpus > vcpus ? `${vcpus},maxcpus=${maxVcpus}` : String(vcpus);
}

/**
 * The command-line args of the virtio-mem device: a RAM backend of
 * `regionMib` (anonymous memory: only what the guest plugs and touches is
 * ever backed) and the device over it, plugged empty. Not reserve=off:
 * QEMU reads /proc/sys/vm/overcommit_memory for it, which the jail hides. Pure.
 */
export function virtioMemArgs(regionMib: number): string[] {
  return ['-object', `memory-backend-ram,id=${VIRTIO_MEM_BACKEND_ID},size=${regionMib}M`, '-device', `virtio-mem-pci,id=${VIRTIO_MEM_ID},memdev=${VIRTIO_MEM_BACKEND_ID},requested-size=0`];
}

function slotKey(s: CpuSlot): number[] {
  return [s.props['socket-id'] ?? 0, s.props['die-id'] ?? 0, s.props['core-id'] ?? 0, s.props['thread-id'] ?? 0];
}

function compareSlots(a: CpuSlot, b: CpuSlot): number {
  const ka = slotKey(a);
  const kb = slotKey(b);
  for (let i = 0; i < ka.length; i++) if (ka[i] !== kb[i]) return ka[i] - kb[i];
  return 0;
}

/** Parse a query-hotpluggable-cpus reply. Throws InternalError on a malformed one. Pure. */
export function parseCpuSlots(reply: unknown): CpuSlot[] {
  if (!Array.isArray(reply)) throw new InternalError('QMP query-hotpluggable-cpus: not a list');
  return reply.map((e: unknown) => {
    const o = e as { type?: unknown; props?: unknown; 'qom-path'?: unknown };
    if (typeof o?.type !== 'string' || typeof o.props !== 'object' || o.props === null) throw new InternalError('QMP query-hotpluggable-cpus: malformed entry');
    const slot: CpuSlot = { type: o.type, props: o.props };
    if (typeof o['qom-path'] === 'string') slot.qomPath = o['qom-path'];
    return slot;
  });
}

/**
 * What to run to get from the plugged CPUs in `slots` to `target`: device_add
 * of the lowest free slots, or device_del (by QOM path) of the highest
 * plugged ones; never below 1. Pure.
 */
export function cpuResizeCommands(slots: CpuSlot[], target: number): { add: QmpCommand[]; del: QmpCommand[] } {
  const sorted = [...slots].sort(compareSlots);
  const plugged = sorted.filter((s) => s.qomPath !== undefined);
  const want = Math.max(1, target);
  if (want > sorted.length) throw new FailedPreconditionError(`${want} vCPUs asked for, but the VM has only ${sorted.length} CPU slots (maxcpus)`);
  if (want > plugged.length) {
    const add = sorted
      .filter((s) => s.qomPath === undefined)
      .slice(0, want - plugged.length)
      .map((s) => ({ execute: 'device_add', arguments: { driver: s.type, id: `${CPU_ID_PREFIX}${slotKey(s).join('-')}`, ...s.props } }));
    return { add, del: [] };
  }
  const del = plugged
    .slice(want)
    .reverse()
    .map((s) => ({ execute: 'device_del', arguments: { id: s.qomPath } }));
  return { add: [], del };
}

/** qom-set of the virtio-mem device's requested-size, in bytes (MiB in). Pure. */
export function virtioMemRequestCommand(mib: number): QmpCommand {
  return { execute: 'qom-set', arguments: { path: VIRTIO_MEM_ID, property: 'requested-size', value: mib * MIB } };
}

export type ResizePort = QmpPort;

/** The vCPUs plugged now and the slots there are. */
export async function cpuCount(qmp: ResizePort): Promise<{ plugged: number; max: number; slots: CpuSlot[] }> {
  const slots = parseCpuSlots(await qmp.execute('query-hotpluggable-cpus'));
  return { plugged: slots.filter((s) => s.qomPath !== undefined).length, max: slots.length, slots };
}

/**
 * Plug or unplug vCPUs until `target` are plugged. An unplug is done once
 * the CPU's slot is empty again (the guest ejected it); that is polled
 * rather than awaited as DEVICE_DELETED, which QEMU 7.2 was seen to send
 * only for the CPU's lapic child.
 */
export async function resizeCpus(qmp: ResizePort, target: number, timeoutMs = DEFAULT_RESIZE_TIMEOUT_MS): Promise<number> {
  const { slots } = await cpuCount(qmp);
  const { add, del } = cpuResizeCommands(slots, target);
  for (const c of add) await qmp.execute(c.execute, c.arguments);
  for (const c of del) {
    const path = String(c.arguments.id);
    await qmp.execute(c.execute, c.arguments);
    const deadline = Date.now() + timeoutMs;
    while ((await cpuCount(qmp)).slots.some((s) => s.qomPath === path)) {
      if (Date.now() >= deadline) throw new FailedPreconditionError(`the guest did not release vCPU ${path} within ${timeoutMs} ms`);
      await sleep(POLL_MS);
    }
  }
  return (await cpuCount(qmp)).plugged;
}

/** The memory the virtio-mem device has plugged into the guest now, in MiB. */
export async function virtioMemSizeMib(qmp: ResizePort): Promise<number> {
  const size = await qmp.execute('qom-get', { path: VIRTIO_MEM_ID, property: 'size' });
  if (typeof size !== 'number' || !Number.isFinite(size) || size < 0) throw new InternalError('QMP qom-get size of virtio-mem: not a number');
  return Math.floor(size / MIB);
}

/**
 * Ask for `mib` of virtio-mem memory and wait until the guest has plugged
 * or unplugged it. On a timeout the request is set back to what the guest
 * holds and FailedPreconditionError says how far it got.
 */
export async function resizeVirtioMem(qmp: ResizePort, mib: number, timeoutMs = DEFAULT_RESIZE_TIMEOUT_MS): Promise<number> {
  const c = virtioMemRequestCommand(mib);
  await qmp.execute(c.execute, c.arguments);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const now = await virtioMemSizeMib(qmp);
    if (now === mib) return now;
    if (Date.now() >= deadline) {
      const back = virtioMemRequestCommand(now);
      await qmp.execute(back.execute, back.arguments);
      throw new FailedPreconditionError(
        `the guest holds ${now} MiB of hot-plugged memory after ${timeoutMs} ms, ${mib} MiB asked for (it cannot free or will not give back the rest); the request was set back to ${now} MiB`,
      );
    }
    await sleep(POLL_MS);
  }
}
