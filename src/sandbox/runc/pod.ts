// A trusted pod on the host: its /etc files, its /dev/shm, and the infra
// process (vmpod-infra, run by runc under conmon) that holds its namespaces.

import { chmod, copyFile, mkdir, readFile, rename, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { UnavailableError } from '../../../common/errors';
import type { Logger } from '../../log';
import { projectRoot } from '../../paths';
import { sandboxSpec } from '../../oci/sandbox-spec';
import { podUserns } from '../../oci/userns';
import { usernsPinPath } from '../../network';
import { podCgroupParent } from '../../oci/container-spec';
import { hostnameFile, hostsFile, resolvConf } from '../../oci/pod-files';
import type { HostFacts } from '../../oci/input';
import { conmonPidFile, exitFile, launchConmon } from './conmon';
import { pidAlive } from './live-state';
import type { Runc } from './runc-cli';
import type { ControllerData, SandboxCreateInput, SandboxHandle } from '../controller';
import { decodeSandboxData, RUNC_DATA_VERSION, type RuncSandboxData } from './data';
import { cgroupDirs } from './cgroup-stats';
import { mountTmpfs, unmountIfMounted } from './mount';
import type { RuncPaths } from './paths';
import { Steps, type PhaseObserver } from '../steps';
import { sleep } from '../../../common/time';

export const SHM_OPTIONS = 'nosuid,nodev,noexec,mode=1777,size=65536k';

export function infraBinaryPath(): string {
  return join(projectRoot(), 'native', 'infra', 'build', 'vmpod-infra');
}

/** The read-only rootfs every infra process shares: just the binary. */
export async function ensureInfraRootfs(paths: RuncPaths, binary: string): Promise<void> {
  const dest = join(paths.infraRootfs, 'vmpod-infra');
  if (!existsSync(binary)) throw new UnavailableError(`infra binary ${binary} is missing: run native/infra/build.sh (scripts/setup does)`);
  const [src, have] = await Promise.all([stat(binary), stat(dest).catch(() => null)]);
  if (have && have.size === src.size && have.mtimeMs >= src.mtimeMs) return;
  for (const d of ['proc', 'dev']) await mkdir(join(paths.infraRootfs, d), { recursive: true });
  // A temp name of its own: pods started at once on a fresh daemon all copy, and a shared name was renamed away under the others' chmod (ENOENT).
  const tmp = `${dest}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await copyFile(binary, tmp);
    await chmod(tmp, 0o755);
    await rename(tmp, dest);
  } finally {
    await rm(tmp, { force: true });
  }
}

export interface PodDeps {
  paths: RuncPaths;
  runc: Runc;
  runcBinary: string;
  host: HostFacts;
  infraBinary: string;
  phases?: PhaseObserver;
}

export async function createPod(deps: PodDeps, input: SandboxCreateInput): Promise<ControllerData> {
  const { paths, runc } = deps;
  const { id, config, log } = input;
  const steps = new Steps(`pod ${id} start`, log, { phases: deps.phases && { operation: 'runc pod start', observer: deps.phases } });
  const podDir = paths.podDir(id);
  const data: RuncSandboxData = {
    v: RUNC_DATA_VERSION,
    podDir,
    infraPid: 0,
    shmPath: input.namespaces.ipc === 'NODE' ? '' : join(podDir, 'shm'),
    hostsPath: join(podDir, 'hosts'),
    resolvConfPath: join(podDir, 'resolv.conf'),
    hostnamePath: join(podDir, 'hostname'),
    cgroupParent: podCgroupParent(config.linux?.cgroup_parent ?? '', id),
  };
  const hostNetwork = input.namespaces.network === 'NODE';
  const hostname = input.hostname;
  // The network layer made the pod's netns inside its user namespace and pinned that beside it.
  const userns = podUserns(config);

  await steps.run(
    'pod-dir',
    // 0700: its /dev/shm is a mode=1777 tmpfs (the containers need that inside), so no other host user may reach the path.
    () => mkdir(podDir, { recursive: true, mode: 0o700 }),
    () => rm(podDir, { recursive: true, force: true }),
  );
  await steps.run('etc-files', async () => {
    const resolv = resolvConf(config.dns_config) ?? (await readFile('/etc/resolv.conf', 'utf8').catch(() => ''));
    await writeFile(data.resolvConfPath, resolv, { mode: 0o644 });
    await writeFile(data.hostnamePath, hostnameFile(hostname), { mode: 0o644 });
  });
  if (data.shmPath) {
    const shm = data.shmPath;
    await steps.run(
      'shm-mount',
      async () => {
        await mkdir(shm, { recursive: true });
        await mountTmpfs(shm, SHM_OPTIONS);
      },
      () => unmountIfMounted(shm),
    );
  }
  await steps.run('infra-rootfs', () => ensureInfraRootfs(paths, deps.infraBinary));
  const bundle = paths.infraBundle(id);
  await steps.run('infra-spec', async () => {
    const { spec, notes } = sandboxSpec({
      podId: id,
      hostname,
      infraRootfs: paths.infraRootfs,
      netnsPath: input.netnsPath,
      namespaces: input.namespaces,
      cgroupParent: config.linux?.cgroup_parent ?? '',
      sysctls: config.linux?.sysctls ?? {},
      host: deps.host,
      userns: userns ? { ...userns, path: usernsPinPath(input.netnsPath) } : undefined,
    });
    for (const n of notes) log.info(n.detail, n.message);
    await mkdir(bundle, { recursive: true });
    await writeFile(join(bundle, 'config.json'), JSON.stringify(spec));
  });
  await mkdir(paths.exitDir, { recursive: true });
  // Registered before infra-create so that its undo runs after runc's delete.
  await steps.run(
    'cgroup-parent',
    async () => undefined,
    () => removeCgroupParent(deps.host, config.linux?.cgroup_parent ?? '', data.cgroupParent),
  );
  const started = await steps.run(
    'infra-create',
    () =>
      launchConmon({
        id,
        name: `infra-${id}`,
        bundle,
        runcRoot: paths.runcRoot,
        runcBinary: deps.runcBinary,
        logPath: join(podDir, 'infra.log'),
        exitDir: paths.exitDir,
        tty: false,
        stdin: false,
        stdinOnce: false,
      }),
    () => deleteCreatedInfra(runc, id, bundle, exitFile(paths.exitDir, id)),
  );
  data.infraPid = started.pid;
  // The one file that needs the pod's addresses: CNI ADD may have run beside
  // everything above (SandboxCreateInput.ips). If it failed, this step fails
  // and the infra, created but not started, is deleted with the rest.
  await steps.run('hosts-file', async () => {
    const hosts = hostNetwork ? await readFile('/etc/hosts', 'utf8') : hostsFile(hostname, await input.ips);
    await writeFile(data.hostsPath, hosts, { mode: 0o644 });
  });
  await steps.run('infra-start', () => runc.start(id));
  steps.done();
  return { ...data };
}

/** How long the conmon of an infra whose create is undone gets to exit. */
const UNDO_CONMON_EXIT_MS = 5_000;

/**
 * Undo of infra-create (a later step failed, e.g. its CNI ADD): runc delete
 * kills the created infra; its conmon reaps it, writes the exit file (when
 * the bundle is still there, which it is: the pod dir goes after this undo)
 * and exits. conmon is waited for and the file removed, or it would stay in
 * the exit dir with no pod to remove it.
 */
async function deleteCreatedInfra(runc: Runc, id: string, bundle: string, exitPath: string): Promise<void> {
  const conmonPid = Number((await readFile(conmonPidFile(bundle), 'utf8').catch(() => '')).trim()) || 0;
  await runc.delete(id, true);
  for (const until = Date.now() + UNDO_CONMON_EXIT_MS; pidAlive(conmonPid) && Date.now() < until;) await sleep(10);
  await rm(exitPath, { force: true });
}

export async function podReady(runc: Runc, sb: SandboxHandle): Promise<boolean> {
  const st = await runc.state(sb.id);
  return st?.status === 'running';
}

export async function stopPod(runc: Runc, sb: SandboxHandle, log: Logger): Promise<void> {
  // StopPodSandbox may be called any number of times (CRI: idempotent).
  await runc.kill(sb.id, 9, true);
  const until = Date.now() + 10_000;
  while (Date.now() < until) {
    const st = await runc.state(sb.id);
    if (!st || st.status === 'stopped') break;
    await sleep(50);
  }
  log.debug('infra process stopped');
}

/** `runcDelete`: the controller's, which reuses a delete already run after the infra's exit. */
export async function removePod(deps: PodDeps, sb: SandboxHandle, log: Logger, opts: { runcDelete?: () => Promise<void> } = {}): Promise<void> {
  const data = decodeSandboxData(sb.data, sb.id);
  // Independent: runc's state and cgroup, and the pod's /dev/shm.
  await Promise.all([opts.runcDelete ? opts.runcDelete() : deps.runc.delete(sb.id, true), data.shmPath ? unmountIfMounted(data.shmPath) : undefined]);
  await rm(data.podDir, { recursive: true, force: true });
  await rm(join(deps.paths.exitDir, sb.id), { force: true });
  await removeCgroupParent(deps.host, sb.config.linux?.cgroup_parent ?? '', data.cgroupParent);
  log.debug('pod files removed');
}

/** The default parent (/vmpod/<id>) is ours to remove; a kubelet-given one is kubelet's. */
async function removeCgroupParent(host: HostFacts, requested: string, parent: string): Promise<void> {
  if (requested) return;
  for (const d of cgroupDirs(parent, host.cgroupVersion)) await rmdir(d).catch(() => undefined);
}
