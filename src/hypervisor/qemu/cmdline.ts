// The pure heart of the QEMU layer: VmConfig → argv. No I/O, so every flag
// is unit-tested; launch.ts only prepends the binary (and nsenter).

import { join } from 'node:path';
import { AGENT_PORT_NAME, GUEST_AGENT_PORT_NAME, RUN_FILES, SHARED_MOUNT_TAG, VOLUME_MOUNT_TAG, type VmConfig } from '../vm-config';
import { accelArgs, DEFAULT_X86_OPTIONS, machineArgs, type X86Options } from './arch/x86_64';
import { deviceArgs, type Device } from './devices';
import { SERIAL_BUS, SERIAL_CONTROLLER_ID } from './devices/virtio-serial-agent';
import { BALLOON_ID } from './devices/virtio-balloon';
import { diskDevices, memoryFileFd } from './disk-files';
import { opts } from './devices/opts';
import { POD_SHARE_SECURITY_MODEL, VOLUME_SHARE_SECURITY_MODEL } from './devices/virtio-9p';
import { validateVmConfig } from './validate';
import { smpArg, virtioMemArgs } from './resize';

const MIB = 1024 * 1024;
/** One slot for the rootfs NVDIMM, one for a later memory hotplug. */
export const MEMORY_SLOTS = 2;

export interface QemuOptions {
  x86: X86Options;
}

export const DEFAULT_QEMU_OPTIONS: QemuOptions = { x86: DEFAULT_X86_OPTIONS };

export function runPath(c: VmConfig, file: keyof typeof RUN_FILES): string {
  return join(c.runDir, RUN_FILES[file]);
}

/**
 * What vmpod's guest is told when it runs under TCG: start the agent's
 * Node.js with --jitless (guest-image/initramfs/init reads it). Under TCG,
 * every page of machine code V8 generates is code QEMU must translate
 * again, so compiling the agent's start-up and first requests costs more
 * emulated time than interpreting them saves: a cold pod reached its first
 * log line ~0.7 s of guest CPU sooner with V8's interpreter alone, and the
 * agent's port-forward throughput did not drop (docs/performance.md). Under
 * KVM machine code runs natively, so the JIT stays on there.
 */
export const TCG_GUEST_PARAMS: readonly string[] = ['vmpod.jitless=1'];

/** The guest kernel command line. */
export function kernelParams(c: VmConfig): string[] {
  // panic=1 + -no-reboot: a panicking guest reboots and QEMU then exits, so a
  // dead guest is always seen as a dead QEMU process.
  const base = ['console=ttyS0', 'panic=1'];
  if (c.agent) base.push(`vmpod.agent=${c.agent.transport}`);
  if (c.agent?.transport === 'serial') base.push(`vmpod.agent_port=${AGENT_PORT_NAME}`);
  // Only vmpod's own guest (the one with an agent) reads it; a VM image's kernel never sees it.
  if (c.agent && c.accel === 'tcg') base.push(...TCG_GUEST_PARAMS);
  return mergeParams(base, c.boot?.params ?? []);
}

/**
 * Append `extra` to `base`; a parameter whose key (text before '=') is
 * already set by vmpod replaces it in place instead of repeating it, so the guest
 * manifest's own command line (which also sets console= and panic=) can be
 * passed through unchanged. Pure.
 */
export function mergeParams(base: string[], extra: string[]): string[] {
  const out = [...base];
  const keyOf = (p: string): string => p.split('=', 1)[0];
  for (const p of extra) {
    // Only vmpod's own parameters are replaced; repeated keys within `extra`
    // (several console= for instance) are kept as given.
    const i = base.findIndex((q) => keyOf(q) === keyOf(p));
    if (i >= 0) out[i] = p;
    else out.push(p);
  }
  return out;
}

/** The devices of this VM, in command-line order; `blockDeviceSets` as for diskDevices. */
export function vmDevices(c: VmConfig, blockDeviceSets?: ReadonlySet<number>): Device[] {
  const console: Device = c.console?.kind === 'socket' ? { kind: 'socket-console', socketPath: c.console.socketPath } : { kind: 'serial-console', logPath: runPath(c, 'consoleLog') };
  const devices: Device[] = [{ kind: 'qmp', socketPath: runPath(c, 'qmpSocket') }, console, { kind: 'pvpanic' }];
  if (c.rootfs) devices.push({ kind: 'nvdimm-rootfs', id: 'rootfs', imagePath: c.rootfs.path, sizeBytes: c.rootfs.sizeBytes });
  if (c.sharedDir) devices.push({ kind: 'virtio-9p', id: 'shared', path: c.sharedDir, mountTag: SHARED_MOUNT_TAG, securityModel: POD_SHARE_SECURITY_MODEL });
  // Writable volumes: what the guest sets there stays metadata (mapped-xattr), never a host set-id file, node or FIFO.
  if (c.volumeDir) devices.push({ kind: 'virtio-9p', id: 'volumes', path: c.volumeDir, mountTag: VOLUME_MOUNT_TAG, securityModel: VOLUME_SHARE_SECURITY_MODEL });
  if (c.agent?.transport === 'vsock') devices.push({ kind: 'vsock', id: 'vsock0', cid: c.agent.cid });
  else if (c.agent?.transport === 'serial') devices.push({ kind: 'virtio-serial-agent', socketPath: c.agent.socketPath, portName: AGENT_PORT_NAME });
  devices.push(...diskDevices(c, blockDeviceSets));
  // A read-only share is served as the real files (a ConfigMap's symlinks resolve) and QEMU refuses every write;
  // a writable one as the pod's writable volumes are (mapped-xattr: what the guest sets stays metadata).
  (c.shares ?? []).forEach((s, i) =>
    devices.push({ kind: 'virtio-9p', id: `share${i}`, path: s.path, mountTag: s.tag, securityModel: s.readOnly ? POD_SHARE_SECURITY_MODEL : VOLUME_SHARE_SECURITY_MODEL, readOnly: s.readOnly }),
  );
  if (c.guestAgentSocket !== undefined) {
    // The serial agent channel brings the controller; otherwise one of the same id, so hot-plugged ports (hotplug.ts) find its bus too.
    if (c.agent?.transport !== 'serial') devices.push({ kind: 'virtio-serial-controller', id: SERIAL_CONTROLLER_ID });
    devices.push({ kind: 'virtio-serial-port', id: 'qga0', socketPath: c.guestAgentSocket, name: GUEST_AGENT_PORT_NAME, bus: SERIAL_BUS });
  }
  // vhost-net needs the in-kernel fast path that only pays (and is only
  // tested) with kvm.
  if (c.network) {
    const nic: Device = { kind: 'tap-net', id: 'net0', tap: { ifname: c.network.ifname }, mac: c.network.mac.toLowerCase(), vhost: c.accel === 'kvm' };
    // A disk VM's firmware boots its disk or nothing: no iPXE ROM to fall back to a network boot from the pod network.
    if (c.disks !== undefined) nic.noRom = true;
    devices.push(nic);
  }
  // Last, so that the PCI slots of the devices above do not move.
  if (c.freePageReporting || c.guestStatsIntervalS !== undefined) {
    devices.push({
      kind: 'virtio-balloon',
      id: BALLOON_ID,
      freePageReporting: c.freePageReporting === true,
      ...(c.guestStatsIntervalS !== undefined ? { statsIntervalS: c.guestStatsIntervalS } : {}),
    });
  }
  return devices;
}

/** The memory that may be hot-plugged beyond boot RAM and the rootfs (the virtio-mem region of a resizable VM). Pure. */
export function hotplugMib(c: VmConfig): number {
  // QEMU refuses slots with maxmem == mem, so the hotplug headroom is never 0.
  return Math.max(c.hotplugMemoryMib ?? c.memoryMib, 2);
}

export function memoryArg(c: VmConfig): string {
  const rootfsMib = c.rootfs ? Math.ceil(c.rootfs.sizeBytes / MIB) : 0;
  return `${c.memoryMib}M,slots=${MEMORY_SLOTS},maxmem=${c.memoryMib + rootfsMib + hotplugMib(c)}M`;
}

/** The x86 options in force for `c`: its own machine and firmware over the defaults; a VM with disks gets the disk machine profile. Pure. */
export function x86Options(c: Pick<VmConfig, 'machine' | 'firmware' | 'disks'>, o: X86Options): X86Options {
  const x: X86Options = { ...o, machine: c.machine ?? o.machine, firmware: c.firmware ?? o.firmware };
  if (c.disks !== undefined) x.profile = 'disk';
  return x;
}

/** argv for qemu-system-x86_64 (without the binary); `blockDeviceSets` as for diskDevices. Throws InvalidArgumentError for impossible configs. */
export function buildQemuArgs(c: VmConfig, o: QemuOptions = DEFAULT_QEMU_OPTIONS, blockDeviceSets?: ReadonlySet<number>): string[] {
  validateVmConfig(c);
  const args: string[] = [
    '-name',
    `guest=vmpod-${c.id.replace(/,/g, ',,')},debug-threads=on`,
    // No default NIC, VGA, serial, parallel, floppy, CD-ROM; no
    // /etc/qemu config files: the VM has exactly what is listed here.
    '-nodefaults',
    '-no-user-config',
    ...machineArgs(x86Options(c, o.x86), c.memoryMerge === true),
    // A VM that can hot-plug vCPUs runs multi-threaded TCG: QEMU 7.2 aborts unplugging a vCPU under single-threaded TCG (resize.ts).
    ...accelArgs(c.accel, Math.max(c.vcpus, c.resize?.maxVcpus ?? 0), c.tcgTbSizeMib),
    '-smp',
    smpArg(c.vcpus, c.resize?.maxVcpus),
    '-m',
    memoryArg(c),
    '-display',
    'none',
    '-vga',
    'none',
    '-no-reboot',
    // QEMU itself is confined: no obsolete syscalls, no setuid, no
    // fork/exec, no scheduler/priority changes.
    '-sandbox',
    'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny',
    '-pidfile',
    runPath(c, 'pidfile'),
  ];
  args.push(...memoryFileArgs(c));
  if (c.boot) {
    args.push('-kernel', c.boot.kernel);
    if (c.boot.initrd) args.push('-initrd', c.boot.initrd);
    args.push('-append', kernelParams(c).join(' '));
  }
  for (const d of vmDevices(c, blockDeviceSets)) args.push(...deviceArgs(d));
  // The virtio-mem region takes the whole hot-plug headroom of maxmem.
  if (c.resize) args.push(...virtioMemArgs(hotplugMib(c)));
  if (c.paused) args.push('-S');
  // The state comes over QMP (migrate-incoming, hypervisor restore): the VM waits for it, then runs unless paused.
  if (c.restoreFrom !== undefined) args.push('-incoming', 'defer');
  return args;
}

/** The guest RAM backend when VmConfig.memoryFile is set: the inherited fd, by its /proc/self/fd path (QEMU 7.2 opens mem-path itself). Pure. */
export function memoryFileArgs(c: VmConfig): string[] {
  if (!c.memoryFile) return [];
  return [
    '-object',
    opts('memory-backend-file', [
      ['id', GUEST_RAM_ID],
      ['size', `${c.memoryMib}M`],
      ['mem-path', `/proc/self/fd/${memoryFileFd(c)}`],
      // Not shared: MAP_PRIVATE, so the guest's writes are copies that never reach the file.
      ['share', c.memoryFile.shared ? 'on' : 'off'],
      // The machine's mem-merge does not reach an explicit backend.
      ['merge', c.memoryMerge === true ? 'on' : 'off'],
    ]),
    '-machine',
    `memory-backend=${GUEST_RAM_ID}`,
  ];
}

/** The guest RAM backend's id when it is a file (memoryFileArgs). */
export const GUEST_RAM_ID = 'ram0';
