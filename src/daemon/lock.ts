// One daemon per root directory and per socket. The root lock is a pid file
// created with O_EXCL; a file left by a dead daemon is stale and taken over.
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

export class DaemonAlreadyRunningError extends FailedPreconditionError {}

/** Take `<root>/vmpod.lock`; returns the release function. */
export function lockRoot(lockPath: string): () => void {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(lockPath, 'wx', 0o600);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return () => {
        try {
          if (Number(readFileSync(lockPath, 'utf8').trim()) === process.pid) rmSync(lockPath, { force: true });
        } catch {
          // already gone
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number(readFileSync(lockPath, 'utf8').trim());
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
        throw new DaemonAlreadyRunningError(`another vmpod (pid ${pid}) is using this root; lock file ${lockPath}. Stop it first, or start this one with a different --root`);
      }
      rmSync(lockPath, { force: true }); // stale: its daemon is gone
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
