// One daemon per root directory and per socket. The root lock is a pid file
// created with O_EXCL; a file left by a dead daemon is stale and taken over.
// A pid alone is not an identity: after a reboot (or on a busy node) the pid
// of a daemon that died is reused by some other process, and a lock naming it
// would keep vmpod from ever starting again. So the file also names the boot
// and the process's start time (/proc/<pid>/stat field 22); the lock is held
// only while a process with that pid, in this boot, started at that time runs.
// The socket is replaced only when nothing answers on it.

import { closeSync, lstatSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { connect } from 'node:net';
import { FailedPreconditionError } from '../../common/errors';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Who holds a lock: what the lock file says, and what is needed to tell the same process from a pid reused later. */
export interface LockHolder {
  pid: number;
  /** /proc/sys/kernel/random/boot_id when the lock was taken; absent in files written before it was recorded. */
  bootId?: string;
  /** The holder's start time in clock ticks since boot (/proc/<pid>/stat field 22). */
  startTime?: string;
}

/** What this host says now about a pid; undefined fields are unknown. */
export interface HostProbe {
  bootId(): string | undefined;
  alive(pid: number): boolean;
  startTime(pid: number): string | undefined;
}

export function formatLock(h: LockHolder): string {
  return `${h.pid}\n${h.bootId ?? ''}\n${h.startTime ?? ''}\n`;
}

/** Parses a lock file; null when it names no pid (an empty or torn file is stale). */
export function parseLock(text: string): LockHolder | null {
  const [pidLine = '', boot = '', start = ''] = text.split('\n').map((l) => l.trim());
  const pid = Number(pidLine);
  if (!/^\d+$/.test(pidLine) || !Number.isSafeInteger(pid) || pid <= 0) return null;
  return { pid, bootId: boot || undefined, startTime: /^\d+$/.test(start) ? start : undefined };
}

/** Whether the process that wrote `h` still runs: same boot, pid alive, same start time. Pure but for the probe. */
export function holderRuns(h: LockHolder, probe: HostProbe): boolean {
  const boot = probe.bootId();
  if (h.bootId && boot && h.bootId !== boot) return false; // every process of an earlier boot is gone
  if (!probe.alive(h.pid)) return false;
  if (h.startTime === undefined) return true; // an old-format file: the pid is all there is to go by
  const now = probe.startTime(h.pid);
  return now === undefined || now === h.startTime;
}

/** Field 22 of /proc/<pid>/stat; the command name (field 2) may hold spaces and parentheses, so count from its closing one. */
export function statStartTime(stat: string): string | undefined {
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const v = rest[19]; // fields 3.. follow the name; 22 is the 20th of them
  return v && /^\d+$/.test(v) ? v : undefined;
}

const hostProbe: HostProbe = {
  bootId: () => readOr('/proc/sys/kernel/random/boot_id')?.trim(),
  alive,
  startTime: (pid) => {
    const stat = readOr(`/proc/${pid}/stat`);
    return stat === undefined ? undefined : statStartTime(stat);
  },
};

function readOr(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

export class DaemonAlreadyRunningError extends FailedPreconditionError {}

/** Take `<root>/vmpod.lock`; returns the release function. */
export function lockRoot(lockPath: string, probe: HostProbe = hostProbe): () => void {
  const me: LockHolder = { pid: process.pid, bootId: probe.bootId(), startTime: probe.startTime(process.pid) };
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(lockPath, 'wx', 0o600);
      try {
        writeSync(fd, formatLock(me));
      } finally {
        closeSync(fd);
      }
      return () => {
        try {
          if (parseLock(readFileSync(lockPath, 'utf8'))?.pid === process.pid) rmSync(lockPath, { force: true });
        } catch {
          // already gone
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = parseLock(readOr(lockPath) ?? '');
      if (holder && holder.pid !== process.pid && holderRuns(holder, probe)) {
        throw new DaemonAlreadyRunningError(`another vmpod (pid ${holder.pid}) is using this root; lock file ${lockPath}. Stop it first, or start this one with a different --root`);
      }
      rmSync(lockPath, { force: true }); // stale: its daemon is gone (or the pid now belongs to another process)
    }
  }
  throw new DaemonAlreadyRunningError(`could not take the lock ${lockPath}: another daemon keeps creating it`);
}

function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect(path);
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
    sock.setTimeout(2000, () => done(true)); // something holds it but is slow: do not steal it
  });
}

/** Make `path` free for a new listening socket, or refuse if a live server owns it. */
export async function claimSocketPath(path: string): Promise<void> {
  let st;
  try {
    st = lstatSync(path);
  } catch {
    return; // nothing there
  }
  if (!st.isSocket()) throw new DaemonAlreadyRunningError(`${path} exists and is not a socket; refusing to replace it`);
  if (await answers(path)) throw new DaemonAlreadyRunningError(`a server is already answering on ${path}; is another vmpod running? Stop it first or use --listen`);
  rmSync(path, { force: true });
}
