// Where a VM pod's files live on the host and where the guest sees them.
//
//   <state>/sandboxes/<id>/
//     share-src/            host-only staging dir; never exported
//       pod/{hostname,hosts,resolv.conf}
//       c/<cid>/rootfs      empty mount point for the container's overlay rootfs
//       c/<cid>/m/<n>       empty mount point (dir or file) for CRI mount n
//     shared/               read-only bind of share-src, exported over 9p as
//                           /run/vmpod/shared; the rootfs and CRI mounts are
//                           mounted on top of its mount points
//     microvm.json          what a restarted daemon needs (see record.ts)
//   <state>/vm/<id>/        QEMU run dir (QMP, agent socket, console log);
//                           short so that socket paths fit in sun_path
//
// Why the read-only bind: the guest is hostile and can write the share. If
// the host mounted onto paths the guest can rename (say c/<cid> replaced by
// a symlink to /etc), the host's mount(2) would follow the guest's symlink.
// Through a read-only bind the guest cannot change any path component the
// host mounts on; what the host mounts there (the overlay rootfs, a
// writable emptyDir) is writable as asked.

import { join, posix } from 'node:path';
import { InvalidArgumentError } from '../../errors';

/** Where the guest agent mounts the 9p share. */
export const GUEST_SHARED_DIR = '/run/vmpod/shared';
/** The guest's pod-wide /dev/shm (a tmpfs the agent mounts at boot): every container of the pod binds it, as runc pods share theirs. */
export const GUEST_POD_SHM = '/dev/shm';

export interface PodPaths {
  dir: string;
  shareSource: string;
  shared: string;
  record: string;
  vmRunDir: string;
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
    record: join(dir, 'microvm.json'),
    vmRunDir: join(state, 'vm', podId),
  };
}

/** Share-relative paths; join them to `shareSource` (to create), `shared` (to mount on) or GUEST_SHARED_DIR. */
export const sharePath = {
  podFile: (name: 'hostname' | 'hosts' | 'resolv.conf'): string => posix.join('pod', name),
  containerDir: (cid: string): string => {
    checkId('container id', cid);
    return posix.join('c', cid);
  },
  rootfs: (cid: string): string => posix.join(sharePath.containerDir(cid), 'rootfs'),
  mount: (cid: string, n: number): string => posix.join(sharePath.containerDir(cid), 'm', String(n)),
};

export function guestPath(rel: string): string {
  return posix.join(GUEST_SHARED_DIR, rel);
}
