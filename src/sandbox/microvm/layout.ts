// Where a VM pod's files live on the host and where the guest sees them.
//
//   <state>/sandboxes/<id>/     0700: only root reaches what the share holds
//     share-src/            host-only staging dir; never exported
//       pod/{hostname,hosts,resolv.conf}
//       c/<cid>/rootfs      empty mount point for the container's overlay rootfs
//       c/<cid>/m/<n>       empty mount point (dir or file) for read-only CRI mount n
//       v/                  empty: the guest mounts the volume share here
//     shared/               read-only bind of share-src, exported over 9p
//                           (security_model=none) as /run/vmpod/shared; the
//                           rootfs and read-only CRI mounts are mounted on
//                           top of its mount points
//     share-rw-src/         the same for writable CRI mounts (volumes):
//       c/<cid>/m/<n>       empty mount point (dir or file) for CRI mount n
//     share-rw/             read-only bind of share-rw-src, exported over 9p
//                           with security_model=mapped-xattr (the guest's
//                           owners, modes and special files are xattrs, never
//                           real: a volume's real directory is shared with the
//                           host and other pods) and mounted by the guest at
//                           /run/vmpod/shared/v, so that every guest path of
//                           the pod's files is under one share dir
//     staging/              a private bind of itself, never exported: a bind
//                           is made and confined (nodev, nosuid, ro) here,
//                           then moved onto its mount point (share.ts)
//   /run/vmpod/s/<h>/       the VM's run dir (VmConfig.runDir), root, 0700:
//                           qmp.sock, agent.sock (virtio-serial), qemu.pid,
//                           vm.json (launch record), console.log, qemu.std{out,err}
//   <state>/vm/<id>         symlink to /run/vmpod/s/<h>, so that a pod's VM
//                           files are found from the state dir; nothing in the
//                           daemon goes through it. Pods started before this
//                           layout have their run dir itself here (their
//                           record says so: see recordedVmRunDir).
//
// Why the run dir is not under <state>: a unix socket address holds 107
// bytes, and <state> is configurable while ids are 64 characters, so
// <state>/vm/<id>/agent.sock overflows once <state> is longer than 28
// bytes. The run dir's path has a fixed length instead, whatever <state> is:
//
//   <h> = first 32 hex digits of sha256(<state, absolute and normalised> NUL <pod id>)
//
// The state dir is part of the name because several daemons share one host
// (the test suite runs several, each with its own state dir) and the ids of
// one daemon are unknown to the others. Two daemons cannot share a state dir
// (every file in it would collide), so distinct daemons have distinct
// normalised state paths and so distinct names. Normalised, not realpath'd:
// the name stays a pure function of the configuration and the id, which a
// restarted daemon recomputes without touching the filesystem. 128 bits make
// a collision among the pods a host will ever run negligible and leave
// MAX_UNIX_SOCKET_PATH - 46 bytes for socket names. The base is fixed, not
// configurable, for the same reason the name is hashed: its length must not
// depend on configuration. /run is tmpfs, so nothing there outlives the VMs
// across a reboot; "s" is short, as in containerd's /run/containerd/s/<sha256>
// for its shim sockets. The whole run dir moves, not only its sockets: QEMU
// gets one run dir (VmConfig.runDir), and its pidfile and launch record
// belong beside the sockets they lead to.
//
// Why the read-only bind: the guest is hostile and can write the share. If
// the host mounted onto paths the guest can rename (say c/<cid> replaced by
// a symlink to /etc), the host's mount(2) would follow the guest's symlink.
// Through a read-only bind the guest cannot change any path component the
// host mounts on; what the host mounts there (the overlay rootfs, a
// writable emptyDir) is writable as asked.

import { createHash } from 'node:crypto';
import { join, posix, resolve } from 'node:path';
import { InvalidArgumentError } from '../../../common/errors';
import { RUN_FILES } from '../../hypervisor';

/** Where the guest agent mounts the 9p share. */
export const GUEST_SHARED_DIR = '/run/vmpod/shared';
/** Where, relative to the share, the guest mounts the volume share (share-rw): a mount point the host makes in share-src. */
export const VOLUME_SHARE_REL = 'v';
/** GUEST_SHARED_DIR/VOLUME_SHARE_REL: the volume share as the guest sees it. */
export const GUEST_VOLUME_DIR = posix.join(GUEST_SHARED_DIR, VOLUME_SHARE_REL);
/** The guest's pod-wide /dev/shm (a tmpfs the agent mounts at boot): every container of the pod binds it, as runc pods share theirs. */
export const GUEST_POD_SHM = '/dev/shm';

export interface PodPaths {
  dir: string;
  shareSource: string;
  shared: string;
  /** The volume share's source (share-rw-src) and its exported read-only bind (share-rw). */
  volumeSource: string;
  volumes: string;
  record: string;
  /** <state>/vm/<id>: the link to the VM's run dir (vmRunPaths), or the run dir itself of a pod of the previous layout. */
  vmRunDir: string;
}

/** Where every vmpod daemon on the host keeps its VMs' run dirs (see the top of this file). */
export const VM_RUN_BASE = '/run/vmpod/s';
/** Hex digits of the run dir's name. */
export const VM_RUN_NAME_HEX = 32;

export interface VmRunPaths {
  /** The VM's run dir, VmConfig.runDir: VM_RUN_BASE/<h>, the same length for every state dir and id. */
  dir: string;
  qmpSocket: string;
  /** The host end of the virtio-serial agent channel. */
  agentSocket: string;
  /** <state>/vm/<id>, a symlink to `dir`. */
  stateLink: string;
}

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

function checkId(kind: string, id: string): void {
  // Ids become path components.
  if (!ID_RE.test(id)) throw new InvalidArgumentError(kind, `"${id}" is not a valid id`);
}

export function podPaths(state: string, podId: string): PodPaths {
  checkId('pod sandbox id', podId);
  const dir = join(state, 'sandboxes', podId);
  return {
    dir,
    shareSource: join(dir, 'share-src'),
    shared: join(dir, 'shared'),
    volumeSource: join(dir, 'share-rw-src'),
    volumes: join(dir, 'share-rw'),
    record: join(dir, 'microvm.json'),
    vmRunDir: join(state, 'vm', podId),
  };
}

/** The VM run dir of pod `podId` of the daemon whose state dir is `state`. Pure. */
export function vmRunPaths(state: string, podId: string, base = VM_RUN_BASE): VmRunPaths {
  checkId('pod sandbox id', podId);
  const h = createHash('sha256')
    .update(`${resolve(state)}\0${podId}`)
    .digest('hex')
    .slice(0, VM_RUN_NAME_HEX);
  const dir = join(base, h);
  return {
    dir,
    qmpSocket: join(dir, RUN_FILES.qmpSocket),
    agentSocket: join(dir, RUN_FILES.agentSocket),
    stateLink: podPaths(state, podId).vmRunDir,
  };
}

/**
 * The run dir of a pod found in the store after a restart. The record's
 * `vmRunDir` says which layout started the VM; the path itself is derived
 * from the state dir and the id, never taken from the record. A record that
 * names neither place (hand-edited, or written by a broken daemon) gets the
 * current layout's dir: `known` is false so the caller can say so.
 */
export function recordedVmRunDir(state: string, podId: string, recorded: string | undefined, base = VM_RUN_BASE): { dir: string; layout: 'current' | 'previous'; known: boolean } {
  const run = vmRunPaths(state, podId, base);
  if (recorded === run.stateLink) return { dir: run.stateLink, layout: 'previous', known: true };
  return { dir: run.dir, layout: 'current', known: recorded === run.dir };
}

/**
 * Share-relative paths; join them to `shareSource` (to create), `shared` (to
 * mount on) or GUEST_SHARED_DIR. A CRI mount's path is the same in the
 * volume share (volumeSource, volumes, GUEST_VOLUME_DIR): a container's
 * mount points are c/<cid> in either share.
 */
export const sharePath = {
  podFile: (name: 'hostname' | 'hosts' | 'resolv.conf'): string => posix.join('pod', name),
  containerDir: (cid: string): string => {
    checkId('container id', cid);
    return posix.join('c', cid);
  },
  rootfs: (cid: string): string => posix.join(sharePath.containerDir(cid), 'rootfs'),
  mount: (cid: string, n: number): string => posix.join(sharePath.containerDir(cid), 'm', String(n)),
  /** A path of the volume share as a path of the pod share (under VOLUME_SHARE_REL), for guest paths. */
  inVolumeShare: (rel: string): string => posix.join(VOLUME_SHARE_REL, rel),
};

/** Where a CRI mount is bound: which share, the path in it, and the path as the guest's share dir (GUEST_SHARED_DIR) holds it. */
export interface MountPlace {
  share: 'pod' | 'volumes';
  /** Relative to the share's source and its exported bind. */
  rel: string;
  /** Relative to GUEST_SHARED_DIR. */
  guestRel: string;
}

/**
 * CRI mount `n` of container `cid`: a writable one goes to the volume share
 * when the pod has one, so that what the guest makes in a volume is inert
 * on the host; a read-only one stays on the pod share, where host symlinks
 * (kubelet's `..data` of a ConfigMap or Secret) resolve. Pure.
 */
export function mountPlace(cid: string, n: number, readonly: boolean, volumeShare: boolean): MountPlace {
  const rel = sharePath.mount(cid, n);
  if (readonly || !volumeShare) return { share: 'pod', rel, guestRel: rel };
  return { share: 'volumes', rel, guestRel: sharePath.inVolumeShare(rel) };
}

export function guestPath(rel: string): string {
  return posix.join(GUEST_SHARED_DIR, rel);
}
