// A pod netns owned by the pod's own user namespace (`hostUsers: false`).
// Node cannot unshare(2), and util-linux 2.38's `unshare --user=<pin>`
// cannot pin a user namespace it made (its helper's bind mount is refused),
// so: a child unshares both at once (the netns is then owned by the new user
// namespace), says so, and waits; we write its id maps (possible only while a
// process is inside), pin both namespaces from the host, and let it go. The
// netns pin keeps the user namespace alive as its owner; its own pin is how
// the runc controller's infra process joins it by path.

import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { InternalError } from '../../common/errors';
import { runOk } from './run';

/** The uid_map and gid_map texts ("inside host length" lines). */
export interface UsernsMaps {
  uidMap: string;
  gidMap: string;
}

const READY_TIMEOUT_MS = 10_000;

export async function unshareUsernsNetns(netnsPin: string, usernsPin: string, maps: UsernsMaps): Promise<void> {
  const child = spawn('unshare', ['--user', '--net', '--', 'sh', '-c', 'echo ready && exec cat >/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? -1)));
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new InternalError(`unshare --user --net did not start within ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS);
      child.stdout.once('data', () => {
        clearTimeout(timer);
        resolve();
      });
      child.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      void exited.then((code) => {
        clearTimeout(timer);
        reject(new InternalError(`unshare --user --net exited with ${code} before it was ready: ${stderr.trim()}`));
      });
    });
    const pid = child.pid!;
    await writeFile(`/proc/${pid}/uid_map`, maps.uidMap);
    await writeFile(`/proc/${pid}/gid_map`, maps.gidMap);
    await runOk(`pin user namespace ${usernsPin}`, ['mount', '--bind', `/proc/${pid}/ns/user`, usernsPin]);
    await runOk(`pin network namespace ${netnsPin}`, ['mount', '--bind', `/proc/${pid}/ns/net`, netnsPin]);
  } finally {
    child.stdin.end();
    if (child.exitCode === null && child.signalCode === null) {
      const t = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(t);
    }
  }
}
