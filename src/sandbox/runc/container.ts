// Containers of a trusted pod: one runc container per CRI container, each
// under its own conmon. CreateContainer prepares its bundle; runc makes the
// container at StartContainer (container-start.ts).

import { readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Logger } from '../../log';
import { containerSpec } from '../../oci/container-spec';
import type { HostFacts, SpecNote } from '../../oci/input';
import { RRO_OPTION } from '../../oci/mounts';
import { podUserns, type PodUserns } from '../../oci/userns';
import { idmapRootfs, overlayLayers, releaseStagedMounts, stageMounts } from './staged-mounts';
import { resolveResources } from '../../oci/resources';
import type { OciResources } from '../../oci/types';
import { FailedPreconditionError, NotFoundError } from '../../../common/errors';
import { extractRootfsDiff, unpackCheckpoint } from './checkpoint-restore';
import { exitFile, oomFile } from './conmon';
import { makeContainer, readInitPid, saveConmonOptions } from './container-start';
import { execSync } from './exec-sync';
import type { Runc } from './runc-cli';
import type { LinuxContainerResources__Output } from '../../generated/cri/runtime/v1/LinuxContainerResources';
import type { ContainerCreateInput, ContainerCreateResult, ContainerHandle, ContainerProcessState, ExecResult } from '../controller';
import { decodeContainerData, decodeSandboxData, RUNC_DATA_VERSION, type RuncContainerData } from './data';
import type { RuncPaths } from './paths';
import type { ImageUserFilesCache } from './rootfs-read';
import { Steps, type PhaseObserver } from '../steps';
import { nowNs, sleep } from '../../../common/time';
import { makeDirs, makeDirsSync } from '../../host/make-dirs';
import type { Trash } from '../../host/trash';

export interface ContainerDeps {
  paths: RuncPaths;
  runc: Runc;
  runcBinary: string;
  host: HostFacts;
  /** native/infra's vmpod-mount (staged-mounts.ts). */
  mountBinary: string;
  phases?: PhaseObserver;
  /** The image's /etc/passwd and /etc/group, kept per layer list (the controller's). */
  userFiles: ImageUserFilesCache;
  /** Where a removed container's bundle goes to be deleted after RemoveContainer answers (host/trash.ts). */
  trash: Trash;
}

/** The container's data, with its init PID read from runc's pidfile when the data has none (made at StartContainer). */
function runcData(c: ContainerHandle): RuncContainerData {
  const d = decodeContainerData(c.data, c.id);
  return d.pid === 0 ? { ...d, pid: readInitPid(d.bundle) } : d;
}

/** A restore refuses what the dump refuses too (checkpoint.ts): the runc side of docs/checkpoint.md. */
function restoreRefusal(archive: string, tty: boolean, userns: boolean): string | null {
  if (tty) return `restore of ${archive}: a container with a terminal (tty: true) cannot be restored; CRIU cannot dump or restore conmon's pty`;
  if (userns) return `restore of ${archive}: pods with hostUsers: false cannot restore a checkpoint yet (their idmapped rootfs is not checkpointed)`;
  return null;
}

export async function createContainer(deps: ContainerDeps, input: ContainerCreateInput): Promise<ContainerCreateResult> {
  const { id, config, log } = input;
  const sbData = decodeSandboxData(input.sandbox.data, input.sandbox.id);
  // The init process of the container whose PID namespace this one joins.
  const targetPid = input.target ? runcData(input.target).pid : 0;
  // Its namespace exists only once runc made it, at its StartContainer (as with containerd, whose task is made then).
  if (input.target && targetPid === 0) throw new FailedPreconditionError(`container ${id}: the container whose PID namespace it joins (${input.target.id}) has not been started; start it first`);
  const steps = new Steps(`container ${id} create`, log, { phases: deps.phases && { operation: 'runc container create', observer: deps.phases } });
  const bundle = deps.paths.containerBundle(id);
  const staged = deps.paths.stagedMounts(id);
  const stagedRootfs = deps.paths.stagedRootfs(id);
  const userns = podUserns(input.sandbox.config) ?? undefined;
  const notes: SpecNote[] = [];
  const archive = input.restoreFrom;
  if (archive) {
    const refusal = restoreRefusal(archive, config.tty, !!userns);
    if (refusal) throw new FailedPreconditionError(refusal);
    // Before anything looks into the new rootfs: its overlay is fresh, so the diff written
    // under it is what it shows (overlayfs caches what it has looked up).
    await steps.run(
      'checkpoint-unpack',
      async () => {
        try {
          await makeDirs(bundle, 0o700);
          const unpacked = await unpackCheckpoint(archive, bundle);
          await extractRootfsDiff(unpacked.rootfsDiff, overlayLayers(input.rootfs).upperdir);
          await rm(unpacked.rootfsDiff, { force: true });
        } catch (err) {
          await rm(bundle, { recursive: true, force: true }).catch(() => undefined);
          throw err;
        }
      },
      () => rm(bundle, { recursive: true, force: true }),
    );
  }
  const spec = await steps.run('spec', async () => {
    const { passwd, group } = await deps.userFiles.read(input.rootfs, input.imageLayers);
    const made = containerSpec({
      containerId: id,
      config,
      image: input.image,
      rootfs: input.rootfs,
      passwd,
      group,
      targetPid,
      host: deps.host,
      pod: {
        id: input.sandbox.id,
        hostname: input.sandbox.hostname,
        netnsPath: input.sandbox.netnsPath,
        infraPid: sbData.infraPid,
        namespaces: input.sandbox.namespaces,
        cgroupParent: input.sandbox.config.linux?.cgroup_parent ?? '',
        resolvConfPath: sbData.resolvConfPath,
        hostsPath: sbData.hostsPath,
        hostnamePath: sbData.hostnamePath,
        shmPath: sbData.shmPath,
        userns,
      },
    });
    notes.push(...made.notes);
    return made.spec;
  });
  const staging = !!userns || spec.mounts.some((m) => m.options.includes(RRO_OPTION));
  if (staging) {
    await steps.run(
      'staged-mounts',
      async () => {
        // The infra process holds the pod's user namespace for as long as the pod runs.
        const usernsPath = userns ? `/proc/${sbData.infraPid}/ns/user` : undefined;
        if (userns && usernsPath) {
          const root = (list: PodUserns['uidMappings']): number => list.find((m) => m.containerID === 0)!.hostID;
          const upper = overlayLayers(input.rootfs).upperdir;
          // The image store gives long layer lists relative to its snapshots dir (image/service.ts: <root>/image/{containers/<id>/upper,snapshots}).
          const relativeBase = join(dirname(dirname(dirname(upper))), 'snapshots');
          spec.root.path = await idmapRootfs(input.rootfs, stagedRootfs, staged, {
            binary: deps.mountBinary,
            usernsPath,
            hostRoot: { uid: root(userns.uidMappings), gid: root(userns.gidMappings) },
            relativeBase,
          });
        }
        spec.mounts = await stageMounts(spec.mounts, staged, { binary: deps.mountBinary, usernsPath }, notes);
      },
      async () => {
        await releaseStagedMounts(staged);
        await releaseStagedMounts(stagedRootfs);
      },
    );
  }
  for (const n of notes) log.info(n.detail, n.message);
  await steps.run(
    'bundle',
    async () => {
      // Synchronous: a few small files and dirs (the state dir is a tmpfs in production), written in microseconds,
      // where each asynchronous call was a round trip through libuv's pool (1-5 ms for the step on a busy daemon).
      try {
        makeDirsSync(bundle, 0o700);
        writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec));
        // runc makes the container at StartContainer (container-start.ts), or `runc restore` makes and runs it then.
        saveConmonOptions(bundle, { name: config.metadata?.name ?? id, tty: config.tty, stdin: config.stdin, stdinOnce: config.stdin_once });
        if (input.logPath) makeDirsSync(dirname(input.logPath));
        makeDirsSync(deps.paths.exitDir);
      } catch (err) {
        // Only completed steps are rolled back: a bundle dir made before a
        // failed write (a full state dir, found by test/fault/disk-full) is this step's to remove.
        await rm(bundle, { recursive: true, force: true }).catch(() => undefined);
        throw err;
      }
    },
    () => rm(bundle, { recursive: true, force: true }),
  );
  // Staged views must not outlive one `runc create` in the host's mount namespace: made now (container-start.ts).
  const pid = staging && !archive ? await steps.run('runc-create', () => makeContainer(deps, id, input.logPath, bundle)) : 0;
  steps.done();
  const u = spec.process.user;
  const data: RuncContainerData = { v: RUNC_DATA_VERSION, bundle, pid, exitFile: exitFile(deps.paths.exitDir, id), attachSocket: join(bundle, 'attach') };
  return { data: { ...data }, user: { uid: u.uid, gid: u.gid, additionalGids: u.additionalGids ?? [] } };
}

/**
 * What conmon's exit file says, or null while there is none. Synchronous on
 * purpose: a stat and a small read, far cheaper than a trip through the
 * libuv pool when kubelet relists every container every second.
 */
export function readExitFile(exitFile: string, bundle: string): ContainerProcessState | null {
  try {
    if (!existsSync(exitFile)) return null;
    const code = Number(readFileSync(exitFile, 'utf8').trim());
    const st = statSync(exitFile);
    return {
      state: 'exited',
      exitCode: Number.isFinite(code) ? code : 255,
      finishedAt: (BigInt(Math.round(st.mtimeMs * 1000)) * 1000n).toString(),
      oomKilled: existsSync(oomFile(bundle)),
    };
  } catch {
    return null;
  }
}

export async function containerState(deps: ContainerDeps, c: ContainerHandle): Promise<ContainerProcessState> {
  const d = runcData(c);
  const exited = (): ContainerProcessState | null => readExitFile(d.exitFile, d.bundle);
  const fromExit = exited();
  if (fromExit) return fromExit;
  // Not started yet: runc has not made it (container-start.ts).
  if (d.pid === 0) return { state: 'created', exitCode: 0, finishedAt: '0', oomKilled: false };
  // No runc process per container: until `runc start` the init process is
  // still `runc init` waiting on its FIFO; after it, it is the workload.
  const cmdline = readProc(`/proc/${d.pid}/cmdline`);
  // The cgroup check guards against a recycled PID after conmon died unseen.
  if (cmdline && readProc(`/proc/${d.pid}/cgroup`).includes(`/${c.id}\n`)) {
    const [argv0 = '', argv1 = ''] = cmdline.split('\0');
    const created = argv1 === 'init' && (argv0 === deps.runcBinary || argv0.endsWith('/runc') || argv0 === 'runc');
    return { state: created ? 'created' : 'running', exitCode: 0, finishedAt: '0', oomKilled: false };
  }
  const st = await deps.runc.state(c.id);
  if (st?.status === 'created') return { state: 'created', exitCode: 0, finishedAt: '0', oomKilled: false };
  if (st?.status === 'running' || st?.status === 'paused') return { state: 'running', exitCode: 0, finishedAt: '0', oomKilled: false };
  // Stopped but conmon has not written the exit file yet: give it a moment.
  for (let i = 0; i < 20; i++) {
    await sleep(50);
    const late = exited();
    if (late) return late;
  }
  return { state: st ? 'exited' : 'unknown', exitCode: 255, finishedAt: nowNs(), oomKilled: false };
}

/** The container's init is alive: its PID exists and sits in the container's cgroup (not a recycled PID). */
function initAlive(c: ContainerHandle): boolean {
  return pidInCgroup(runcData(c).pid, c.id);
}

/** PID `pid` exists and sits in the cgroup named `id` (a container's, or a pod infra's: both end in their id). */
export function pidInCgroup(pid: number, id: string): boolean {
  return pid > 0 && readProc(`/proc/${pid}/cgroup`).includes(`/${id}\n`);
}

function readProc(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

const POLL_MS = 25;

/** Waits (cheaply, without spawning runc) until the init process has gone. */
async function waitExited(c: ContainerHandle, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  for (;;) {
    if (existsSync(runcData(c).exitFile) || !initAlive(c)) return true;
    if (Date.now() >= until) return false;
    await sleep(POLL_MS);
  }
}

export async function stopContainer(deps: ContainerDeps, c: ContainerHandle, signal: number, timeoutS: number, log: Logger): Promise<void> {
  const st = await containerState(deps, c);
  // Stopping a container that is not running succeeds (CRI: StopContainer is idempotent).
  if (st.state === 'exited' || st.state === 'unknown') return;
  if (st.state === 'running' && timeoutS > 0) {
    try {
      // The init PID was just checked to be this container's; runc kill would do the same kill(2).
      process.kill(runcData(c).pid, signal);
    } catch {
      // ESRCH: it exited in between.
    }
    if (await waitExited(c, timeoutS * 1000)) return;
    log.info({ signal, timeoutS }, 'container did not stop in time; sending SIGKILL');
  }
  // --all: with a shared PID namespace, killing init does not end its children.
  await deps.runc.kill(c.id, 9, true);
  if (!(await waitExited(c, 10_000))) log.warn('container still alive 10 s after SIGKILL');
}

/** `runcDelete`: the controller's, which reuses a delete already run after the exit. */
export async function removeContainer(deps: ContainerDeps, c: ContainerHandle, opts: { runcDelete?: () => Promise<void> } = {}): Promise<void> {
  await (opts.runcDelete ? opts.runcDelete() : deps.runc.delete(c.id, true));
  const d = runcData(c);
  // Left mounted only by a daemon that died between staging and runc create.
  await releaseStagedMounts(deps.paths.stagedMounts(c.id));
  await releaseStagedMounts(deps.paths.stagedRootfs(c.id));
  await deps.trash.discard(d.bundle);
  rmSync(d.exitFile, { force: true });
}

export async function execInContainer(deps: ContainerDeps, c: ContainerHandle, cmd: string[], timeoutS: number): Promise<ExecResult> {
  const pidFile = join(runcData(c).bundle, `exec-${process.hrtime.bigint()}.pid`);
  return execSync({ runcBinary: deps.runcBinary, runcRoot: deps.paths.runcRoot, id: c.id, cmd, timeoutS, pidFile });
}

export async function updateContainer(deps: ContainerDeps, c: ContainerHandle, r: LinuxContainerResources__Output): Promise<void> {
  const d = runcData(c);
  const resources = resolveResources(r, deps.host);
  if (d.pid > 0) return deps.runc.update(c.id, resources);
  // Not made yet: runc knows nothing of it, and makes it from the bundle's spec at StartContainer.
  const path = join(d.bundle, 'config.json');
  // A RemoveContainer running beside this call may take the bundle away
  // (found by the CRI fuzzer, test/fault/cri-fuzz): that is NOT_FOUND, not an internal error.
  const removed = (err: unknown): unknown => ((err as NodeJS.ErrnoException).code === 'ENOENT' ? new NotFoundError('container', c.id, 'it was removed while its resources were being updated') : err);
  const spec = JSON.parse(
    await readFile(path, 'utf8').catch((err: unknown) => {
      throw removed(err);
    }),
  ) as { linux?: { resources?: OciResources } };
  spec.linux = { ...spec.linux, resources: mergeResources(spec.linux?.resources ?? {}, resources) };
  await writeFile(path, JSON.stringify(spec)).catch((err: unknown) => {
    throw removed(err);
  });
}

/**
 * What `runc update --resources` makes of a container's limits: each
 * controller's fields given replace those it had, the rest stay (devices
 * among them). Pure.
 */
export function mergeResources(had: OciResources, update: OciResources): OciResources {
  const out: Record<string, unknown> = { ...had };
  for (const [k, v] of Object.entries(update)) {
    const prev = out[k];
    const plain = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
    out[k] = plain(prev) && plain(v) ? { ...prev, ...v } : v;
  }
  return out;
}
