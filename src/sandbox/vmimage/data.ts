// What the vm-image controller keeps about a pod and a container, persisted
// in their records as opaque controller data that only this module reads.
// Decoded defensively: every field is checked, and paths that follow from
// the ids (the pod dir, the run dir) are derived, never taken from the record.

import { InternalError } from '../../../common/errors';
import type { AccelKind } from '../../hypervisor';
import type { GuestNetwork } from '../../network';
import type { ControllerData } from '../controller';

export const VMI_DATA_VERSION = 1;

/** The pod's network as the guest gets it (network-config) and QEMU's NIC needs it. */
export type PodNetwork = Pick<GuestNetwork, 'tapName' | 'mac' | 'mtu' | 'addresses' | 'routes'>;

export interface VmImagePodData {
  v: typeof VMI_DATA_VERSION;
  netnsPath: string;
  /** Absent for a pod without a netns (none: host network is refused; a test without CNI). */
  network?: PodNetwork;
  /** The uid (and gid) the pod's QEMU runs as; absent when the controller runs without a uid allocator (unit tests). */
  qemuUid?: number;
  accel: AccelKind;
  /** The VM's size, from the handler and the pod's limits. */
  vcpus: number;
  memoryMib: number;
}

export interface VmImageContainerData {
  v: typeof VMI_DATA_VERSION;
  /** The image as asked, for messages. */
  image: string;
  /** The disk inside the container's rootfs. */
  disk: { path: string; name: string; format: 'qcow2' | 'raw'; virtualSize: number };
  overlay: string;
  overlayPlan: string;
  firmware: 'seabios' | 'ovmf';
  machine: 'pc' | 'q35';
  vcpus: number;
  memoryMib: number;
  userDataFrom: string;
  /** CRI block devices passed as extra disks (block-devices.ts). */
  devices: { serial: string; hostPath: string; containerPath: string; readOnly: boolean }[];
  /** CRI directory mounts exported over 9p (mounts.ts). */
  shares: { tag: string; hostPath: string; containerPath: string; readOnly: boolean }[];
}

function checkVersion(data: ControllerData, what: string): void {
  if (data.v !== VMI_DATA_VERSION) throw new InternalError(`${what}: vm-image data version ${String(data.v)} is not the one this vmpod reads (${VMI_DATA_VERSION})`);
}

const isStr = (v: unknown): v is string => typeof v === 'string';
const isPosInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v > 0;

function decodeNetwork(v: unknown): PodNetwork | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const n = v as Record<string, unknown>;
  if (!isStr(n.tapName) || !isStr(n.mac) || !/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(n.mac) || typeof n.mtu !== 'number') return undefined;
  if (!Array.isArray(n.addresses) || !Array.isArray(n.routes)) return undefined;
  return { tapName: n.tapName, mac: n.mac, mtu: n.mtu, addresses: n.addresses as PodNetwork['addresses'], routes: n.routes as PodNetwork['routes'] };
}

export function decodeVmImagePodData(data: ControllerData, podId: string): VmImagePodData {
  const what = `pod sandbox ${podId}`;
  checkVersion(data, what);
  if (!isStr(data.netnsPath)) throw new InternalError(`${what}: vm-image data has no string "netnsPath"`);
  if (data.accel !== 'kvm' && data.accel !== 'tcg') throw new InternalError(`${what}: vm-image data has no accel`);
  if (!isPosInt(data.vcpus) || !isPosInt(data.memoryMib)) throw new InternalError(`${what}: vm-image data has no VM size`);
  const network = decodeNetwork(data.network);
  if (data.network !== undefined && !network) throw new InternalError(`${what}: vm-image data has a malformed network`);
  return {
    v: VMI_DATA_VERSION,
    netnsPath: data.netnsPath,
    ...(network ? { network } : {}),
    ...(isPosInt(data.qemuUid) ? { qemuUid: data.qemuUid } : {}),
    accel: data.accel,
    vcpus: data.vcpus,
    memoryMib: data.memoryMib,
  };
}

const SERIAL_RE = /^[A-Za-z0-9_-]{1,20}$/;
const TAG_RE = /^vmpod:m\d{1,4}$/;

/** A host path the VM gets (a block device or a 9p share) and where the pod asked for it. */
interface GuestBinding {
  hostPath: string;
  containerPath: string;
  readOnly: boolean;
}

/**
 * A recorded list of host paths the VM gets, each with its guest-side key
 * (`key`, matching `keyRe`); absent: none. Anything malformed is INTERNAL
 * naming `kind`: the record is vmpod's own, so it was damaged.
 */
function decodeBindings<K extends string>(v: unknown, what: string, kind: string, key: K, keyRe: RegExp): Array<GuestBinding & Record<K, string>> {
  if (v === undefined) return [];
  const bad = (): never => {
    throw new InternalError(`${what}: vm-image data has malformed ${kind}`);
  };
  if (!Array.isArray(v)) return bad();
  return v.map((d: Record<string, unknown>) => {
    if (typeof d !== 'object' || d === null) return bad();
    const k = d[key];
    if (!isStr(k) || !keyRe.test(k) || !isStr(d.hostPath) || !d.hostPath.startsWith('/') || !isStr(d.containerPath) || typeof d.readOnly !== 'boolean') return bad();
    return { [key]: k, hostPath: d.hostPath, containerPath: d.containerPath, readOnly: d.readOnly } as GuestBinding & Record<K, string>;
  });
}

export function decodeVmImageContainerData(data: ControllerData, containerId: string): VmImageContainerData {
  const what = `container ${containerId}`;
  checkVersion(data, what);
  const d = data.disk as Record<string, unknown> | undefined;
  if (typeof d !== 'object' || d === null || !isStr(d.path) || !isStr(d.name) || (d.format !== 'qcow2' && d.format !== 'raw') || !isPosInt(d.virtualSize)) {
    throw new InternalError(`${what}: vm-image data has no valid disk`);
  }
  if (!isStr(data.overlay) || !isStr(data.image)) throw new InternalError(`${what}: vm-image data has no overlay or image`);
  if (data.firmware !== 'seabios' && data.firmware !== 'ovmf') throw new InternalError(`${what}: vm-image data has no firmware`);
  if (data.machine !== 'pc' && data.machine !== 'q35') throw new InternalError(`${what}: vm-image data has no machine`);
  if (!isPosInt(data.vcpus) || !isPosInt(data.memoryMib)) throw new InternalError(`${what}: vm-image data has no VM size`);
  return {
    v: VMI_DATA_VERSION,
    image: data.image,
    disk: { path: d.path, name: d.name, format: d.format, virtualSize: d.virtualSize },
    overlay: data.overlay,
    overlayPlan: isStr(data.overlayPlan) ? data.overlayPlan : '',
    firmware: data.firmware,
    machine: data.machine,
    vcpus: data.vcpus,
    memoryMib: data.memoryMib,
    userDataFrom: isStr(data.userDataFrom) ? data.userDataFrom : '',
    devices: decodeBindings(data.devices, what, 'devices', 'serial', SERIAL_RE),
    shares: decodeBindings(data.shares, what, 'shares', 'tag', TAG_RE),
  };
}
