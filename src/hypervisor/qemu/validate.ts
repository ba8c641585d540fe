import { dirname, isAbsolute, join, normalize } from 'node:path';
import { InvalidArgumentError } from '../../../common/errors';
import { RUN_FILES, SHARED_MOUNT_TAG, VOLUME_MOUNT_TAG, type VmConfig } from '../vm-config';
import type { VmDevice } from '../vm-device';

/** sun_path is 108 bytes including the terminating NUL. */
export const MAX_UNIX_SOCKET_PATH = 107;
const MIB = 1024 * 1024;
/** The NVDIMM is placed in the hotplug area in 2 MiB (huge page) steps. */
export const NVDIMM_ALIGN = 2 * MIB;
/** CIDs 0 (hypervisor), 1 (loopback), 2 (host) are reserved; 0xffffffff is VMADDR_CID_ANY. */
export const MIN_GUEST_CID = 3;
export const MAX_GUEST_CID = 0xfffffffe;

function field(name: string): string {
  return `vmConfig.${name}`;
}

function requireAbsoluteAt(what: string, p: string | undefined): void {
  if (p === undefined) return;
  if (!isAbsolute(p)) throw new InvalidArgumentError(what, `"${p}" must be an absolute path`);
  if (p.includes('\0') || p.includes('\n')) throw new InvalidArgumentError(what, 'contains a NUL or newline');
}

function requireAbsolute(name: string, p: string | undefined): void {
  requireAbsoluteAt(field(name), p);
}

function requireSocketPathAt(what: string, p: string): void {
  requireAbsoluteAt(what, p);
  const len = Buffer.byteLength(p);
  if (len > MAX_UNIX_SOCKET_PATH) {
    // Caught here, before QEMU refuses to bind it; Node's connect() to such a path fails with a misleading ENOENT.
    throw new InvalidArgumentError(
      what,
      `unix socket path "${p}" is ${len} bytes, more than the ${MAX_UNIX_SOCKET_PATH} a socket address holds; the VM's run dir must be short (vmpod's are under /run/vmpod/s, see src/sandbox/microvm/layout.ts)`,
    );
  }
}

function requireSocketPath(name: string, p: string): void {
  requireSocketPathAt(field(name), p);
}

function requireIfname(what: string, ifname: string): void {
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(ifname)) throw new InvalidArgumentError(what, `"${ifname}" is not a valid interface name (1-15 of [A-Za-z0-9_.-])`);
}

function requireMac(what: string, mac: string): void {
  if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(mac)) throw new InvalidArgumentError(what, `"${mac}" is not a MAC address`);
  if (parseInt(mac.slice(0, 2), 16) & 1) throw new InvalidArgumentError(what, `"${mac}" is a multicast address`);
}

function requireInt(name: string, v: number, min: number, max: number): void {
  if (!Number.isInteger(v) || v < min || v > max) throw new InvalidArgumentError(field(name), `${v} is not an integer in [${min}, ${max}]`);
}

/**
 * Reject configurations QEMU would refuse or that would be unsafe, with an
 * error naming the field, before anything is spawned.
 */
export function validateVmConfig(c: VmConfig): void {
  if (!c.id) throw new InvalidArgumentError(field('id'), 'must not be empty');
  requireAbsolute('runDir', c.runDir);
  requireSocketPath('runDir', join(c.runDir, RUN_FILES.qmpSocket));
  if (c.accel !== 'kvm' && c.accel !== 'tcg') throw new InvalidArgumentError(field('accel'), `"${String(c.accel)}" is not kvm or tcg (resolve "auto" with detectAccel first)`);
  requireInt('vcpus', c.vcpus, 1, 255);
  requireInt('memoryMib', c.memoryMib, 64, 1024 * 1024);
  if (c.hotplugMemoryMib !== undefined) requireInt('hotplugMemoryMib', c.hotplugMemoryMib, 0, 1024 * 1024);
  if (c.resize) requireInt('resize.maxVcpus', c.resize.maxVcpus, c.vcpus, 255);
  // QEMU clamps tb-size to [1 MiB, 2 GiB] silently; a value outside is a mistake worth naming.
  if (c.tcgTbSizeMib !== undefined) requireInt('tcgTbSizeMib', c.tcgTbSizeMib, 1, 2048);
  if (c.guestStatsIntervalS !== undefined) requireInt('guestStatsIntervalS', c.guestStatsIntervalS, 1, 3600);

  if (c.boot) {
    requireAbsolute('boot.kernel', c.boot.kernel);
    requireAbsolute('boot.initrd', c.boot.initrd);
    for (const p of c.boot.params ?? []) {
      if (/\s/.test(p) || p === '') throw new InvalidArgumentError(field('boot.params'), `"${p}" must be one non-empty word without whitespace`);
    }
  } else if (!c.paused && (c.firmware === undefined || c.firmware === 'qboot')) {
    throw new InvalidArgumentError(field('boot'), 'a VM without a guest kernel boots a disk through its firmware (seabios or ovmf), or can only be started paused');
  }
  if (c.firmware !== undefined && !(FIRMWARES as readonly string[]).includes(c.firmware))
    throw new InvalidArgumentError(field('firmware'), `"${String(c.firmware)}" is not one of ${FIRMWARES.join(', ')}`);
  if (c.machine !== undefined && c.machine !== 'pc' && c.machine !== 'q35') throw new InvalidArgumentError(field('machine'), `"${String(c.machine)}" is not pc or q35`);

  if (c.memoryFile && (!Number.isInteger(c.memoryFile.fd) || c.memoryFile.fd < 0)) throw new InvalidArgumentError(field('memoryFile.fd'), `${c.memoryFile.fd} is not an open file descriptor number`);
  // QEMU 7.2 gives a reported free page back by punching a hole in a file backend: in a template, RAM every restored VM maps.
  if (c.memoryFile && c.freePageReporting) throw new InvalidArgumentError(field('freePageReporting'), 'cannot be used with guest RAM in a file (memoryFile)');
  if (c.restoreFrom !== undefined) {
    requireAbsolute('restoreFrom', c.restoreFrom);
    // Without the saved RAM, or writing it back into the one file other restores map, a restore is wrong either way.
    if (!c.memoryFile || c.memoryFile.shared) throw new InvalidArgumentError(field('restoreFrom'), 'a restored VM needs the saved RAM as a memoryFile mapped copy-on-write (shared: false)');
  }

  if (c.rootfs) {
    requireAbsolute('rootfs.path', c.rootfs.path);
    const s = c.rootfs.sizeBytes;
    if (!Number.isSafeInteger(s) || s <= 0 || s % NVDIMM_ALIGN !== 0) {
      throw new InvalidArgumentError(field('rootfs.sizeBytes'), `${s} is not a positive multiple of 2 MiB; pad the image (truncate -s) when building it`);
    }
  }
  requireAbsolute('sharedDir', c.sharedDir);
  requireAbsolute('volumeDir', c.volumeDir);
  requireAbsolute('netnsPath', c.netnsPath);

  const a = c.agent;
  if (a === undefined) {
    // A guest without vmpod's agent (a VM-image pod).
  } else if (a.transport === 'vsock') {
    if (a.cid === undefined) throw new InvalidArgumentError(field('agent.cid'), 'vsock transport needs a guest CID');
    requireInt('agent.cid', a.cid, MIN_GUEST_CID, MAX_GUEST_CID);
  } else if (a.transport === 'serial') {
    requireSocketPath('agent.socketPath', a.socketPath);
  } else {
    throw new InvalidArgumentError(field('agent.transport'), `"${String((a as { transport: unknown }).transport)}" is not vsock or serial`);
  }

  if (c.network) {
    requireIfname(field('network.ifname'), c.network.ifname);
    requireMac(field('network.mac'), c.network.mac);
  }
  validateDisks(c);
  validateShares(c);
  validateRunDirSockets(c);
}

/** A 9p mount tag of VmConfig.shares: ':' allowed (cloud-init's mounts module keeps only an fs_spec with one), ',' never. */
const SHARE_TAG = /^[A-Za-z0-9_:-]{1,31}$/;
export const MAX_SHARES = 32;

function validateShares(c: VmConfig): void {
  if (c.shares === undefined) return;
  if (!Array.isArray(c.shares) || c.shares.length > MAX_SHARES) throw new InvalidArgumentError(field('shares'), `must be a list of at most ${MAX_SHARES} shares`);
  const tags = new Set<string>([...(c.sharedDir ? [SHARED_MOUNT_TAG] : []), ...(c.volumeDir ? [VOLUME_MOUNT_TAG] : [])]);
  c.shares.forEach((s, i) => {
    const f = (n: string): string => `shares[${i}].${n}`;
    if (typeof s.tag !== 'string' || !SHARE_TAG.test(s.tag)) throw new InvalidArgumentError(field(f('tag')), `"${String(s.tag)}" must be 1-31 of [A-Za-z0-9_:-]`);
    if (tags.has(s.tag)) throw new InvalidArgumentError(field(f('tag')), `"${s.tag}" is the tag of another share`);
    tags.add(s.tag);
    if (s.path === undefined) throw new InvalidArgumentError(field(f('path')), 'is required');
    requireAbsolute(f('path'), s.path);
    if (typeof s.readOnly !== 'boolean') throw new InvalidArgumentError(field(f('readOnly')), 'must be true or false');
  });
}

const FIRMWARES = ['qboot', 'seabios', 'ovmf'] as const;
const DISK_FORMATS = ['raw', 'qcow2'] as const;
/** VmDisk.id is the virtio-blk serial, which holds 20 bytes (VIRTIO_BLK_ID_BYTES). */
const DISK_ID = /^[A-Za-z0-9_-]{1,20}$/;
/** Every disk file is an fd QEMU inherits; a VM needs a handful (an overlay, its base, a cidata disk). */
export const MAX_DISKS = 16;
const MAX_BOOT_INDEX = 1000;

function requireFormat(name: string, f: unknown): void {
  if (!(DISK_FORMATS as readonly unknown[]).includes(f)) throw new InvalidArgumentError(field(name), `"${String(f)}" is not raw or qcow2`);
}

function validateDisks(c: VmConfig): void {
  if (c.disks === undefined) return;
  if (!Array.isArray(c.disks) || c.disks.length > MAX_DISKS) throw new InvalidArgumentError(field('disks'), `must be a list of at most ${MAX_DISKS} disks`);
  const ids = new Set<string>();
  const boots = new Map<number, string>();
  // path → whether some user of it writes: one file written through two nodes (or written and read) would be corrupted.
  const files = new Map<string, { writes: boolean; by: string }>();
  const useFile = (name: string, path: string, writes: boolean, by: string): void => {
    const key = normalize(path);
    const seen = files.get(key);
    if (seen && (seen.writes || writes)) throw new InvalidArgumentError(field(name), `"${path}" is also used by ${seen.by}, and one of them writes it`);
    files.set(key, { writes: writes || (seen?.writes ?? false), by });
  };
  c.disks.forEach((d, i) => {
    const f = (n: string): string => `disks[${i}].${n}`;
    if (typeof d.id !== 'string' || !DISK_ID.test(d.id)) throw new InvalidArgumentError(field(f('id')), `"${String(d.id)}" must be 1-20 of [A-Za-z0-9_-] (it is the virtio-blk serial)`);
    if (ids.has(d.id)) throw new InvalidArgumentError(field(f('id')), `"${d.id}" is the id of an earlier disk too`);
    ids.add(d.id);
    requireAbsolute(f('path'), d.path);
    requireFormat(f('format'), d.format);
    if (typeof d.readOnly !== 'boolean') throw new InvalidArgumentError(field(f('readOnly')), 'must be true or false');
    useFile(f('path'), d.path, !d.readOnly, `disk ${d.id}`);
    if (d.backing !== undefined) {
      if (d.format !== 'qcow2') throw new InvalidArgumentError(field(f('backing')), `disk ${d.id} is ${d.format}; only a qcow2 overlay has a backing image`);
      requireAbsolute(f('backing.path'), d.backing.path);
      requireFormat(f('backing.format'), d.backing.format);
      useFile(f('backing.path'), d.backing.path, false, `disk ${d.id}'s backing`);
    }
    if (d.bootIndex !== undefined) {
      requireInt(f('bootIndex'), d.bootIndex, 0, MAX_BOOT_INDEX);
      const other = boots.get(d.bootIndex);
      if (other !== undefined) throw new InvalidArgumentError(field(f('bootIndex')), `${d.bootIndex} is disk ${other}'s boot index too`);
      boots.set(d.bootIndex, d.id);
    }
  });
}

/**
 * The console and guest-agent sockets: QEMU binds them in its jail, where
 * of the host's directories only the run dir is writable, and none may be
 * another socket of the VM (QEMU would fail to bind, or the daemon would
 * talk to the wrong end).
 */
function validateRunDirSockets(c: VmConfig): void {
  const taken = new Map<string, string>([[join(c.runDir, RUN_FILES.qmpSocket), 'the QMP socket']]);
  if (c.agent?.transport === 'serial') taken.set(normalize(c.agent.socketPath), 'the agent socket');
  const check = (name: string, p: string | undefined): void => {
    if (p === undefined) return;
    requireSocketPath(name, p);
    // Directly in it: below are only the jail's mount point and what the daemon makes.
    if (dirname(normalize(p)) !== normalize(c.runDir).replace(/\/+$/, '')) {
      throw new InvalidArgumentError(field(name), `"${p}" is not directly in the VM's run dir ${c.runDir} (the only host directory QEMU may create a socket in)`);
    }
    const other = taken.get(normalize(p));
    if (other !== undefined) throw new InvalidArgumentError(field(name), `"${p}" is ${other}`);
    taken.set(normalize(p), field(name));
  };
  if (c.console !== undefined) {
    if (c.console.kind !== 'socket') throw new InvalidArgumentError(field('console.kind'), `"${String(c.console.kind)}" is not socket`);
    check('console.socketPath', c.console.socketPath);
  }
  check('guestAgentSocket', c.guestAgentSocket);
}

/** QEMU ids (device, netdev, node-name, chardev, fd name): vmpod adds suffixes of up to 7 characters, and QEMU's own limit for node names is 31. */
const DEVICE_ID = /^[A-Za-z][A-Za-z0-9_-]{0,23}$/;

/** Reject a device QEMU would refuse or misread, with an error naming the field, before any QMP command is sent. */
export function validateVmDevice(d: VmDevice): void {
  const f = (name: string): string => `vmDevice.${name}`;
  if (!DEVICE_ID.test(d.id)) throw new InvalidArgumentError(f('id'), `"${d.id}" must be a letter then up to 23 of [A-Za-z0-9_-]`);
  switch (d.kind) {
    case 'net':
      requireMac(f('mac'), d.mac);
      if ('fd' in d.tap) {
        if (!Number.isInteger(d.tap.fd) || d.tap.fd < 0) throw new InvalidArgumentError(f('tap.fd'), `${d.tap.fd} is not a file descriptor`);
      } else {
        requireIfname(f('tap.ifname'), d.tap.ifname);
      }
      return;
    case 'vsock':
      if (!Number.isInteger(d.cid) || d.cid < MIN_GUEST_CID || d.cid > MAX_GUEST_CID) throw new InvalidArgumentError(f('cid'), `${d.cid} is not an integer in [${MIN_GUEST_CID}, ${MAX_GUEST_CID}]`);
      return;
    case 'block':
      requireAbsoluteAt(f('path'), d.path);
      if (d.format !== 'raw' && d.format !== 'qcow2') throw new InvalidArgumentError(f('format'), `"${String(d.format)}" is not raw or qcow2`);
      return;
    case 'serial-port':
      requireSocketPathAt(f('socketPath'), d.socketPath);
      if (!/^[A-Za-z0-9_.-]{1,64}$/.test(d.name)) throw new InvalidArgumentError(f('name'), `"${d.name}" must be 1-64 of [A-Za-z0-9_.-]`);
      return;
  }
}
