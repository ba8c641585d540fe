// Named, pinned network namespaces. A namespace lives as long as a process
// is in it or a bind mount holds it; we pin each pod's namespace to a file
// `<state>/netns/<podId>` (what `ip netns add` does under /run/netns), so it
// survives with no process in it and across daemon restarts, and runc/QEMU
// join it by path. Node cannot unshare(2)/setns(2): the native addon makes
// and pins one on a thread of its own (newNetnsDirect); without the addon,
// util-linux `unshare --net=<file>` creates and pins in one go.

import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { InternalError } from '../../common/errors';
import { AddonUnavailableError } from '../../common/native/addon';
import { newNetns } from '../../common/native/syscalls';
import { bindShared, unmountDirect, type UnmountResult } from '../host/mount-calls';
import { run, runOk } from './run';
import { unshareUsernsNetns, type UsernsMaps } from './userns-netns';

export function netnsDir(stateDir: string): string {
  return join(stateDir, 'netns');
}

export function netnsPath(stateDir: string, podId: string): string {
  return join(netnsDir(stateDir), podId);
}

/**
 * Where the user namespace owning a pod's netns is pinned, when the pod has
 * one (`hostUsers: false`): beside the netns pins, in a dot dir that
 * start-up reconciliation does not take for a pod id.
 */
export function usernsPinPath(netnsPinPath: string): string {
  return join(dirname(netnsPinPath), '.userns', basename(netnsPinPath));
}

/** True when `path` is a mount point (the pin is in place), read from /proc/self/mountinfo. */
export function isMounted(path: string): boolean {
  const lines = readFileSync('/proc/self/mountinfo', 'utf8').split('\n');
  // Field 5 is the mount point, with spaces etc. octal-escaped.
  const escaped = path.replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
  return lines.some((l) => l.split(' ')[4] === escaped);
}

/**
 * Make the pin dir a shared mount point, as `ip netns` and containerd do for
 * theirs: mount namespaces copied from ours (a daemon unit with private
 * mounts, container setup) then see pins appear and, more importantly,
 * disappear — a pin copy left in another mount namespace would keep the
 * pod's namespace alive after teardown.
 */
async function ensureSharedDir(dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true, mode: 0o711 });
  const mounted = isMounted(dir);
  // mount(2) from the daemon (host/mount-calls.ts): two spawns fewer per pod.
  if (bindShared(dir, mounted)) return;
  if (!mounted) await runOk(`bind-mount netns dir ${dir}`, ['mount', '--bind', dir, dir]);
  await runOk(`make netns dir ${dir} shared`, ['mount', '--make-shared', dir]);
}

/**
 * Undo ensureSharedDir for a pin dir whose owner goes away (a VM pool at
 * daemon stop): unmount its bind mount (lazily, with whatever pins are still
 * under it) and remove it if empty. The daemon's own `<state>/netns` is kept
 * across restarts instead, as `ip netns` keeps /run/netns. Idempotent.
 */
export async function releasePinDir(dir: string): Promise<void> {
  await unmountLazily(dir, `netns pin dir ${dir}`);
  try {
    rmdirSync(dir);
  } catch (err) {
    // Gone already, or pins still in it (files a later start removes): the mount was the leak.
    if (!['ENOENT', 'ENOTEMPTY'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err;
  }
}

/**
 * Create a new network namespace pinned at `path`, with loopback up (pods
 * expect 127.0.0.1 to work; kubelet's runtimes do the same).
 */
export async function createNetns(path: string, userns?: UsernsMaps): Promise<void> {
  await ensureSharedDir(dirname(path));
  if (isMounted(path)) throw new InternalError(`network namespace pin ${path} already exists`);
  closeSync(openSync(path, 'w', 0o444));
  try {
    if (userns) {
      const upin = usernsPinPath(path);
      mkdirSync(dirname(upin), { recursive: true, mode: 0o711 });
      closeSync(openSync(upin, 'w', 0o444));
      await unshareUsernsNetns(path, upin, userns);
      // The host's root may enter a netns owned by a user namespace it created (CNI plugins do too).
      await runOk(`bring loopback up in ${path}`, ['nsenter', `--net=${path}`, 'ip', 'link', 'set', 'lo', 'up']);
    } else if (!newNetnsDirect(path)) {
      await runOk(`create network namespace ${path}`, ['unshare', `--net=${path}`, 'ip', 'link', 'set', 'lo', 'up']);
    }
  } catch (err) {
    await deleteNetns(path).catch(() => undefined);
    throw err;
  }
}

/**
 * What `unshare --net=<path> ip link set lo up` does, in the daemon
 * (native/vsock/netns.cc): two programs fewer on every RunPodSandbox's
 * critical path (the netns comes before CNI ADD and the sandbox's create).
 * False without the addon; a refusal is INTERNAL, naming the step.
 */
function newNetnsDirect(path: string): boolean {
  try {
    newNetns(path);
    return true;
  } catch (err) {
    if (err instanceof AddonUnavailableError) return false;
    throw new InternalError(`create network namespace ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Unpin and remove. Idempotent: a missing or unmounted pin is fine. The
 * namespace itself disappears once nothing else (a process, another mount)
 * holds it; CNI DEL must have run before, while it still had the veth.
 */
export async function deleteNetns(path: string): Promise<void> {
  await unpin(path, 'network');
  await unpin(usernsPinPath(path), 'user');
}

async function unpin(path: string, what: string): Promise<void> {
  await unmountLazily(path, `unpin ${what} namespace ${path}`);
  if (existsSync(path)) rmSync(path, { force: true });
}

/** umount --lazy of `path` if mounted; what is not (or no longer) mounted is fine. `what` names it in errors. */
async function unmountLazily(path: string, what: string): Promise<void> {
  // Lazy unmount: a concurrent `nsenter` that opened the file must not make teardown fail.
  // umount2(2) from the daemon when it can (host/mount-calls.ts); not mounted is fine.
  let direct: UnmountResult | null;
  try {
    direct = unmountDirect(path, { lazy: true });
  } catch (err) {
    // As below: a mount another teardown unmounted meanwhile is fine.
    if (isMounted(path)) throw new InternalError(`${what}: ${(err as Error).message}`);
    direct = 'not-mounted';
  }
  if (direct === null && isMounted(path)) {
    const r = await run(['umount', '--lazy', path]);
    // A concurrent teardown may have unmounted it between our check and umount: only a mount still there is an error.
    if (r.code !== 0 && isMounted(path)) throw new InternalError(`${what}: umount exited with ${r.code}: ${r.stderr.trim()}`);
  }
}
