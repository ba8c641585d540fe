// StartContainer of a runc container: `runc create` under its conmon, then
// `runc start`, as containerd's shim makes its task at StartContainer.
// CreateContainer only prepares (rootfs, spec, bundle, staged mounts) and
// saves what conmon needs (conmon-options.json); runc knows nothing of the
// container until it is started. That keeps CreateContainer cheap, and a
// process that cannot be started fails its start (kubelet's StartError,
// containerd's behaviour) instead of its create.
//
// A container restored from a checkpoint starts with `runc restore` under
// conmon instead (docs/checkpoint.md). A container with staged mounts (a
// user-namespace pod's idmapped views, recursively read-only mounts) is made
// at CreateContainer, as before: those views sit in the host's mount
// namespace until runc has made the container, and that window stays the
// length of one `runc create` (docs/security.md). Such a container, and one
// made by a vmpod from before this split, has its init PID in its data and
// only gets `runc start`.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { InternalError } from '../../../common/errors';
import { sleep } from '../../../common/time';
import type { ContainerHandle } from '../controller';
import { CRIU_BINARY, criuErrors } from './checkpoint';
import { conmonPidFile, launchConmon } from './conmon';
import { decodeContainerData } from './data';
import type { RuncPaths } from './paths';
import type { Runc } from './runc-cli';
import { releaseStagedMounts, unmountAll } from './staged-mounts';

export interface StartDeps {
  paths: RuncPaths;
  runc: Runc;
  runcBinary: string;
}

/** Where a restored container's unpacked CRIU images wait for its start (removed once it runs). */
export const restoreImages = (bundle: string): string => join(bundle, 'checkpoint');
/** runc's --pid-file under conmon: the init PID, once `runc create` (or restore) made the container. */
const pidFile = (bundle: string): string => join(bundle, 'pidfile');

/** What StartContainer gives conmon, saved at create (the handle has no config). */
export interface ConmonOptionsSaved {
  name: string;
  tty: boolean;
  stdin: boolean;
  stdinOnce: boolean;
}
const conmonOptionsFile = (bundle: string): string => join(bundle, 'conmon-options.json');
/** The same options as a vmpod before deferred creates saved them, for restored containers only (no tty). */
const legacyRestoreOptionsFile = (bundle: string): string => join(bundle, 'restore-conmon.json');

export function saveConmonOptions(bundle: string, o: ConmonOptionsSaved): void {
  writeFileSync(conmonOptionsFile(bundle), JSON.stringify(o));
}

async function readConmonOptions(bundle: string, id: string): Promise<ConmonOptionsSaved> {
  const text = await readFile(conmonOptionsFile(bundle), 'utf8').catch(() => readFile(legacyRestoreOptionsFile(bundle), 'utf8'));
  const o = JSON.parse(text) as Partial<ConmonOptionsSaved>;
  if (typeof o.name !== 'string' || typeof o.stdin !== 'boolean' || typeof o.stdinOnce !== 'boolean')
    throw new InternalError(`container ${id}: ${conmonOptionsFile(bundle)} does not hold conmon's options`);
  return { name: o.name, tty: o.tty === true, stdin: o.stdin, stdinOnce: o.stdinOnce };
}

/** The init PID runc recorded for the container, 0 while it has not been made. Synchronous: one small read. */
export function readInitPid(bundle: string): number {
  let text: string;
  try {
    text = readFileSync(pidFile(bundle), 'utf8');
  } catch {
    return 0;
  }
  const pid = Number(text.trim());
  return Number.isSafeInteger(pid) && pid > 0 ? pid : 0;
}

/** Makes (if it is not made yet) and starts the container; its init PID. */
export async function startRuncContainer(deps: StartDeps, c: ContainerHandle): Promise<number> {
  const d = decodeContainerData(c.data, c.id);
  if (d.pid > 0) {
    await deps.runc.start(c.id);
    return d.pid;
  }
  if (existsSync(restoreImages(d.bundle))) return restore(deps, c, d.bundle);
  // A start retried after a daemon died between `runc create` and `runc start` finds the container made.
  const pid = readInitPid(d.bundle) || (await earlierCreate(deps, c.id, d.bundle)) || (await makeContainer(deps, c.id, c.logPath, d.bundle));
  await deps.runc.start(c.id);
  return pid;
}

/**
 * `runc create` under the container's conmon, from its bundle and saved
 * options; its init PID. Then the staged mounts go: the container holds its
 * own binds of them.
 */
export async function makeContainer(deps: StartDeps, id: string, logPath: string, bundle: string): Promise<number> {
  const o = await readConmonOptions(bundle, id);
  try {
    const started = await launchConmon({
      id,
      name: o.name,
      bundle,
      runcRoot: deps.paths.runcRoot,
      runcBinary: deps.runcBinary,
      logPath,
      exitDir: deps.paths.exitDir,
      tty: o.tty,
      stdin: o.stdin,
      stdinOnce: o.stdinOnce,
    });
    return started.pid;
  } catch (err) {
    // Whatever a failed create left in runc's state goes; the bundle stays for removal.
    await deps.runc.delete(id, true).catch(() => undefined);
    throw err;
  } finally {
    // Held by the container now (or never: removal releases them too). The idmapped rootfs dir itself
    // stays (empty) until removal: runc exec starts its process there (runc 1.1 sets cmd.Dir to the rootfs).
    await releaseStagedMounts(deps.paths.stagedMounts(id));
    if (existsSync(deps.paths.stagedRootfs(id))) await unmountAll(join(deps.paths.stagedRootfs(id), 'rootfs'));
  }
}

/** How long a start waits for the conmon of an interrupted start to finish `runc create` (conmon.ts's own limit). */
const EARLIER_CREATE_MS = 60_000;
const POLL_MS = 20;

/**
 * A conmon that an earlier StartContainer launched (a daemon killed while
 * runc created the container) may still be at work: its PID file is in the
 * bundle. Waits for it to report the container made (its init PID), or to
 * end without; then clears what it left, so that a new create can run (0).
 */
async function earlierCreate(deps: StartDeps, id: string, bundle: string): Promise<number> {
  const file = conmonPidFile(bundle);
  if (!existsSync(file)) return 0;
  const conmonPid = Number(readFileSync(file, 'utf8').trim());
  const until = Date.now() + EARLIER_CREATE_MS;
  while (isConmonOf(conmonPid, id) && Date.now() < until) {
    const pid = readInitPid(bundle);
    if (pid > 0) return pid;
    await sleep(POLL_MS);
  }
  const pid = readInitPid(bundle);
  if (pid > 0) return pid;
  // Ours, by PID, and checked to be this container's conmon: it would watch a container that never comes.
  if (isConmonOf(conmonPid, id)) process.kill(conmonPid, 'SIGKILL');
  await deps.runc.delete(id, true);
  await rm(file, { force: true });
  return 0;
}

/** PID `pid` is the conmon of container `id` (its command line names it), not a process that reused the PID. */
function isConmonOf(pid: number, id: string): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return argv[0].endsWith('conmon') && argv.includes('--cid') && argv[argv.indexOf('--cid') + 1] === id;
  } catch {
    return false;
  }
}

/** `runc restore` under conmon from the images unpacked at create; they are removed once the processes run (or failed to). */
async function restore(deps: StartDeps, c: ContainerHandle, bundle: string): Promise<number> {
  const images = restoreImages(bundle);
  let pid: number;
  try {
    const o = await readConmonOptions(bundle, c.id);
    const started = await launchConmon({
      id: c.id,
      name: o.name,
      bundle,
      runcRoot: deps.paths.runcRoot,
      runcBinary: deps.runcBinary,
      logPath: c.logPath,
      exitDir: deps.paths.exitDir,
      tty: false,
      stdin: o.stdin,
      stdinOnce: o.stdinOnce,
      restore: { imagesDir: images, criuBinary: CRIU_BINARY },
    });
    pid = started.pid;
  } catch (err) {
    // CRIU's own reasons are in its log (conmon gives runc restore the bundle as work path).
    const why = criuErrors(await readFile(join(bundle, 'restore.log'), 'utf8').catch(() => ''));
    await deps.runc.delete(c.id, true).catch(() => undefined);
    // Its log stays in the bundle until RemoveContainer; the memory does not.
    await rm(images, { recursive: true, force: true });
    throw new InternalError(`restore of container ${c.id} failed: ${why || (err as Error).message}`);
  }
  // The images hold the processes' memory as it was: not kept once they run again.
  await rm(images, { recursive: true, force: true });
  await releaseStagedMounts(deps.paths.stagedMounts(c.id));
  return pid;
}
