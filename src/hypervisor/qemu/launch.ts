// Starting QEMU so that it outlives the daemon: its own session (setsid via
// `detached`), stdio to files (never pipes the daemon must keep reading), an
// optional network namespace entered with nsenter, a capability bounding set
// cut down by setpriv to what QEMU needs (both exec, so the PID we get is
// QEMU's), and a launch record persisted atomically so that a restarted
// daemon can find the process, its sockets and its CID again.

import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, closeSync, constants as fsc, existsSync, fstatSync, lstatSync, mkdirSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import { DeadlineExceededError, FailedPreconditionError, InternalError, NotFoundError } from '../../../common/errors';
import { sleep } from '../../../common/time';
import { silentLogger, type Logger } from '../../log';
import { readJson, writeJsonAtomic } from '../../store/atomic';
import type { AccelKind, VmConfig, VmPlacement } from '../vm-config';
import { OVMF_PACKAGE, OVMF_PATH } from './arch/x86_64';
import { buildQemuArgs, DEFAULT_QEMU_OPTIONS, hotplugMib, runPath, x86Options, type QemuOptions } from './cmdline';
import { passedFiles } from './disk-files';
import { jailArgv, jailHostFacts, jailPlan, jailRoot, type JailHostFacts } from './jail';
import { processStartTime, signalIfSame } from './proc';
import { validateVmConfig } from './validate';
import { QmpClient } from './qmp';

export const LAUNCH_RECORD_VERSION = 1;

/** What a restarted daemon needs to find a running VM again. */
export interface LaunchRecord {
  version: number;
  id: string;
  pid: number;
  /** /proc/<pid>/stat start time: guards against PID reuse. */
  startTime: string;
  startedAt: string;
  qmpSocket: string;
  agentSocket?: string;
  cid?: number;
  /** The console ring's log; for a socket console only a name (nothing writes it). */
  consoleLog: string;
  /** VmConfig.console of kind socket: the guest's console is this socket, not a ring drained into consoleLog. */
  consoleSocket?: string;
  /** VmConfig.guestAgentSocket: qemu-guest-agent's port. */
  guestAgentSocket?: string;
  /** QEMU's own stderr (capped like the console). */
  stderrLog?: string;
  netnsPath?: string;
  /** How hot-plugged NICs are built (vhost-net with kvm); absent in records of daemons before hot-plug, read as tcg. */
  accel?: AccelKind;
  /** The uid and gid QEMU runs as in its jail (VmConfig.jail); absent: root in the host's mount namespace (VMs started before the jail). */
  uid?: number;
  gid?: number;
  /** Boot RAM, and the size a resizable VM can reach (VmConfig.resize); absent: not resizable (VMs started before resize). */
  memoryMib?: number;
  resize?: { maxVcpus: number; maxMemoryMib: number };
  /** VmConfig.guestStatsIntervalS: the balloon reports the guest's memory figures this often; absent: no guest figures. */
  guestStatsIntervalS?: number;
}

export interface LaunchOptions {
  qemuBinary?: string;
  nsenterBinary?: string;
  setprivBinary?: string;
  unshareBinary?: string;
  /** What the jail links and binds from the host; read from the host when absent. */
  jailFacts?: JailHostFacts;
  qemuOptions?: QemuOptions;
  /** How long QEMU gets to open its QMP socket. */
  qmpTimeoutMs?: number;
  logger?: Logger;
}

export interface Launched {
  record: LaunchRecord;
  qmp: QmpClient;
  child: ChildProcess;
}

/**
 * The capabilities QEMU keeps although it runs as root: the 9p server acts on
 * files of every owner in the pod's share (dac_override, dac_read_search to
 * reach them; fowner for chmod, utimes and the xattrs of files it does not
 * own; chown and fsetid because the share's security_model=none gives a file
 * the guest creates the guest's owner by chowning it, and keeps a setgid bit
 * of a group QEMU is not in). Without chown a file or directory a non-root
 * container creates stays root's, and that container can no longer write to
 * its own directory (measured: "can't create ...: Permission denied"). With
 * these two a guest can make a set-id file through `none`, so writable
 * volumes, whose real directories the host and other pods share, are served
 * by a second, mapped-xattr export (VmConfig.volumeDir), where chown and
 * chmod only write xattrs; what stays on `none` is the pod's rootfs
 * overlays and read-only mounts, in the 0700 pod dir and bound nosuid.
 * Gone, among others:
 *   - net_admin: the tap is created owned by uid 0 (network/tap.ts), which
 *     the kernel's tun owner check lets QEMU attach without it, and a
 *     hot-plugged NIC comes as an fd or a tap made the same way;
 *   - mknod (a guest could make a node for a host disk and open it through
 *     9p), setfcap, sys_admin (mount, setns), sys_module, sys_ptrace,
 *     sys_rawio, sys_boot, sys_resource, kill, setuid/setgid.
 * setpriv cuts the bounding set, and for root that is what exec grants:
 * permitted = effective = bounding (no file capabilities, inheritable
 * cleared), so CapEff, CapPrm and CapBnd all read as this list (the VM
 * confinement e2e test checks all three). The share's mounts are also
 * nodev,nosuid (share.ts), and what QEMU may call is confined by -sandbox.
 */
export const QEMU_CAPABILITIES = ['chown', 'dac_override', 'dac_read_search', 'fowner', 'fsetid'] as const;

/**
 * The placement wrapper: a shell that writes each value to its file (0 to a
 * cgroup.procs moves the writer, the shell itself) and then execs the rest,
 * so QEMU is in its cgroup and has its OOM score from its first allocation
 * (guest RAM included) with no window where it runs outside. A failed write
 * ends it with the shell's message on QEMU's stderr, which launch reports.
 */
export const PLACE_SCRIPT = 'while [ "$1" != -- ]; do printf "%s\\n" "$2" >"$1" || exit 125; shift 2; done; shift; exec "$@"';

/** argv prefix that applies `p` and then execs what follows; [] when nothing to place. Pure. */
export function placementArgv(p: VmPlacement | undefined, shell = 'sh'): string[] {
  if (!p || (p.cgroupProcs.length === 0 && p.oomScoreAdj === undefined)) return [];
  const writes = p.cgroupProcs.flatMap((f) => [f, '0']);
  if (p.oomScoreAdj !== undefined) writes.push('/proc/self/oom_score_adj', String(p.oomScoreAdj));
  return [shell, '-c', PLACE_SCRIPT, 'vmpod-place', ...writes, '--'];
}

/**
 * setpriv's part: the capability sets cut to QEMU_CAPABILITIES. As root
 * (no jail) the bounding set is all that exec grants; as the VM's own uid
 * (VmConfig.jail) the same list is kept as ambient capabilities, which
 * survive the exec of a binary without file capabilities, and every other
 * group is dropped. Pure.
 */
export function setprivArgv(c: Pick<VmConfig, 'jail'>, setpriv = 'setpriv'): string[] {
  const caps = QEMU_CAPABILITIES.map((n) => `+${n}`).join(',');
  if (!c.jail) return [setpriv, `--bounding-set=-all,${caps}`, '--inh-caps=-all', '--ambient-caps=-all', '--'];
  const { uid, gid } = c.jail;
  return [setpriv, `--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', `--inh-caps=-all,${caps}`, `--ambient-caps=-all,${caps}`, `--bounding-set=-all,${caps}`, '--'];
}

/** The full argv (binary first) that launch spawns; `blockDeviceSets` from openPassedFiles. Pure given `o.jailFacts`. */
export function launchArgv(c: VmConfig, o: LaunchOptions = {}, blockDeviceSets?: ReadonlySet<number>): string[] {
  const qemuBinary = o.qemuBinary ?? 'qemu-system-x86_64';
  const qemu = [qemuBinary, ...buildQemuArgs(c, o.qemuOptions ?? DEFAULT_QEMU_OPTIONS, blockDeviceSets)];
  const confined = [...setprivArgv(c, o.setprivBinary), ...qemu];
  // The jail after nsenter (the netns is entered by path, which the jail hides) and before setpriv (building it needs root).
  const facts = c.jail ? (o.jailFacts ?? jailHostFacts()) : undefined;
  const jailed = facts ? [...jailArgv(jailPlan(c, facts, qemuBinary), jailRoot(c.runDir), { unshareBinary: o.unshareBinary, helper: facts.helper }), ...confined] : confined;
  // setpriv after nsenter: entering the netns itself needs sys_admin.
  const entered = c.netnsPath ? [o.nsenterBinary ?? 'nsenter', `--net=${c.netnsPath}`, '--', ...jailed] : jailed;
  // Placed first: /proc/self and /sys/fs/cgroup are the host's before nsenter too, and the writes need the daemon's capabilities.
  return [...placementArgv(c.placement), ...entered];
}

export function launchRecordPath(runDir: string): string {
  return runPath({ runDir } as VmConfig, 'launchRecord');
}

export function readLaunchRecord(runDir: string): LaunchRecord {
  const path = launchRecordPath(runDir);
  let rec: LaunchRecord;
  try {
    rec = readJson<LaunchRecord>(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFoundError('vm launch record', path);
    throw new InternalError(`vm launch record ${path} is unreadable: ${(err as Error).message}`, { cause: err });
  }
  if (rec.version !== LAUNCH_RECORD_VERSION || !Number.isInteger(rec.pid) || typeof rec.qmpSocket !== 'string' || typeof rec.startTime !== 'string') {
    throw new InternalError(`vm launch record ${path} has an unknown shape (version ${String(rec.version)})`);
  }
  return rec;
}

/** Last `bytes` of a file, for error messages ("" if unreadable). */
export function tailFile(path: string, bytes = 2048): string {
  try {
    const s = readFileSync(path, 'utf8');
    return s.slice(-bytes).trim();
  } catch {
    return '';
  }
}

/**
 * QEMU would create a missing memory-backend-file (and then map an empty
 * file as the root disk), so every input is checked here, with an error that
 * names it.
 */
export function checkInputsExist(c: VmConfig, qemuOptions: QemuOptions = DEFAULT_QEMU_OPTIONS): void {
  const inputs: Array<[string, string | undefined]> = [
    ['guest kernel', c.boot?.kernel],
    ['guest initramfs', c.boot?.initrd],
    ['rootfs image', c.rootfs?.path],
    ['shared directory', c.sharedDir],
    ['volume directory', c.volumeDir],
    ...(c.shares ?? []).map((s): [string, string] => [`share ${s.tag}`, s.path]),
    ['network namespace', c.netnsPath],
  ];
  for (const [what, path] of inputs) {
    if (path !== undefined && !existsSync(path)) throw new FailedPreconditionError(`qemu-start: ${what} ${path} of VM ${c.id} does not exist`);
  }
  const x86 = x86Options(c, qemuOptions.x86);
  if (x86.firmware === 'ovmf') {
    const ovmf = x86.ovmfPath ?? OVMF_PATH;
    if (!existsSync(ovmf)) throw new FailedPreconditionError(`qemu-start: VM ${c.id} boots with OVMF, but ${ovmf} does not exist: install the Debian package ${OVMF_PACKAGE}`);
  }
  if (c.rootfs) {
    const size = statSync(c.rootfs.path).size;
    if (size !== c.rootfs.sizeBytes) throw new FailedPreconditionError(`qemu-start: rootfs image ${c.rootfs.path} is ${size} bytes, the VM config says ${c.rootfs.sizeBytes}`);
  }
}

/** The disk files the daemon opened for QEMU, in fd order, and which fdsets hold a block device. */
export interface PassedFds {
  fds: number[];
  blockDeviceSets: Set<number>;
}

/**
 * Open every disk file of `c` for QEMU to inherit (disk-files.ts), in fd
 * order: O_NOFOLLOW (a symlink planted in place of an image is refused, not
 * followed), read-only unless the disk is written, and only regular files
 * and block devices (a block-mode volume; QEMU's host_device driver then).
 * Node opens them close-on-exec, so no other child of the daemon gets them;
 * spawn's dup2 into QEMU's fds 3, 4, ... clears the flag for QEMU alone.
 * On failure the ones already open are closed.
 */
export function openPassedFiles(c: VmConfig): PassedFds {
  const fds: number[] = [];
  const blockDeviceSets = new Set<number>();
  try {
    for (const f of passedFiles(c)) {
      let fd: number;
      try {
        fd = openSync(f.path, (f.readOnly ? fsc.O_RDONLY : fsc.O_RDWR) | fsc.O_NOFOLLOW);
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        const why = e.code === 'ELOOP' ? 'is a symlink' : e.code === 'ENOENT' ? 'does not exist' : `cannot be opened (${e.code ?? e.message})`;
        throw new FailedPreconditionError(`qemu-start: ${f.what} ${f.path} of VM ${c.id} ${why}`);
      }
      fds.push(fd);
      const st = fstatSync(fd);
      if (st.isBlockDevice()) blockDeviceSets.add(f.set);
      else if (!st.isFile()) throw new FailedPreconditionError(`qemu-start: ${f.what} ${f.path} of VM ${c.id} is neither a regular file nor a block device`);
    }
    return { fds, blockDeviceSets };
  } catch (err) {
    for (const fd of fds) closeSync(fd);
    throw err;
  }
}

/**
 * The run dir holds the QMP and agent sockets: whoever reaches them controls
 * the VM. An existing one must be our own real directory (not a symlink
 * someone planted); it is left to us alone (0700).
 */
export function checkPrivateRunDir(c: Pick<VmConfig, 'id' | 'runDir'>): void {
  const st = lstatSync(c.runDir);
  const uid = process.geteuid?.() ?? 0;
  if (!st.isDirectory() || st.uid !== uid) {
    throw new FailedPreconditionError(
      `qemu-start: run dir ${c.runDir} of VM ${c.id} is ${st.isSymbolicLink() ? 'a symlink' : st.isDirectory() ? `owned by uid ${st.uid}` : 'not a directory'}; it must be a directory of uid ${uid}`,
    );
  }
  if ((st.mode & 0o777) !== 0o700) chmodSync(c.runDir, 0o700);
}

/**
 * Spawn QEMU for `c` and return once its QMP socket has answered. On any
 * failure the process is killed and the error carries QEMU's stderr tail.
 */
export async function launchQemu(c: VmConfig, o: LaunchOptions = {}): Promise<Launched> {
  const log = (o.logger ?? silentLogger).child({ subsystem: 'qemu', podSandboxId: c.id });
  // Refused before anything is touched (launchArgv checks again, once the disk files are open).
  validateVmConfig(c);
  checkInputsExist(c, o.qemuOptions);
  const t0 = Date.now();
  mkdirSync(c.runDir, { recursive: true, mode: 0o700 });
  checkPrivateRunDir(c);
  // Leftovers of a previous VM in the same dir would make QEMU fail to bind
  // or make us connect to a dead socket.
  for (const f of ['qmpSocket', 'agentSocket', 'pidfile', 'launchRecord', 'deviceRecord', 'consoleLog', 'stderr'] as const) rmSync(runPath(c, f), { force: true });
  // Inside the run dir (validate.ts).
  for (const p of [c.console?.socketPath, c.guestAgentSocket]) if (p !== undefined) rmSync(p, { force: true });

  const stderrPath = runPath(c, 'stderr');
  const disks = openPassedFiles(c);
  let child: ChildProcess;
  let argv: string[];
  try {
    // Built once the disk files are open: a block device among them takes another QEMU driver.
    argv = launchArgv(c, o, disks.blockDeviceSets);
    const out = openSync(runPath(c, 'stdout'), 'w', 0o600);
    // O_APPEND, so that the daemon can cap it while QEMU holds it (console-log.ts).
    const err = openSync(stderrPath, 'a', 0o600);
    try {
      // The disk files become QEMU's fds 3, 4, ..., then the guest RAM file (disk-files.ts); every exec on the way (placement, nsenter, jail, setpriv) keeps them.
      // The RAM file is the caller's (a template's memfd): QEMU gets a copy, the daemon keeps its own.
      child = spawn(argv[0], argv.slice(1), { detached: true, stdio: ['ignore', out, err, ...disks.fds, ...(c.memoryFile ? [c.memoryFile.fd] : [])] });
    } finally {
      closeSync(out);
      closeSync(err);
    }
  } finally {
    // QEMU has its own copies (and after start-up only the dups in its fdsets).
    for (const fd of disks.fds) closeSync(fd);
  }
  let exited: string | undefined;
  let spawnError: Error | undefined;
  child.once('exit', (code, signal) => {
    exited = signal ? `signal ${signal}` : `exit code ${String(code)}`;
  });
  child.once('error', (e) => {
    spawnError = e;
  });
  log.info({ argv }, 'qemu spawned');

  const fail: (e: Error) => never = (e) => {
    if (child.pid !== undefined && exited === undefined) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    throw e;
  };

  const qmpSocket = runPath(c, 'qmpSocket');
  const timeoutMs = o.qmpTimeoutMs ?? 10_000;
  const deadline = Date.now() + timeoutMs;
  let qmp: QmpClient | undefined;
  while (!qmp) {
    if (spawnError) fail(new InternalError(`qemu-start: cannot run ${argv[0]}: ${spawnError.message}`, { cause: spawnError }));
    if (exited !== undefined) {
      await sleep(20); // let QEMU's last stderr line land
      fail(new InternalError(`qemu-start: QEMU for ${c.id} exited (${exited}) before opening QMP: ${tailFile(stderrPath) || 'no stderr output'}`));
    }
    if (Date.now() > deadline) fail(new DeadlineExceededError(`qemu-start: QEMU for ${c.id} did not open its QMP socket within ${timeoutMs} ms: ${tailFile(stderrPath)}`));
    try {
      qmp = await QmpClient.connect(qmpSocket, { logger: log.child({ subsystem: 'qmp' }) });
    } catch {
      await sleep(50);
    }
  }

  const pid = child.pid as number;
  const startTime = processStartTime(pid);
  if (startTime === undefined) {
    qmp.close();
    fail(new InternalError(`qemu-start: QEMU for ${c.id} (pid ${pid}) vanished right after start: ${tailFile(stderrPath)}`));
  }
  const record: LaunchRecord = {
    version: LAUNCH_RECORD_VERSION,
    id: c.id,
    pid,
    startTime,
    startedAt: new Date().toISOString(),
    qmpSocket,
    consoleLog: runPath(c, 'consoleLog'),
    stderrLog: stderrPath,
    accel: c.accel,
  };
  if (c.agent?.transport === 'serial') record.agentSocket = c.agent.socketPath;
  else if (c.agent?.transport === 'vsock') record.cid = c.agent.cid;
  if (c.console?.kind === 'socket') record.consoleSocket = c.console.socketPath;
  if (c.guestAgentSocket !== undefined) record.guestAgentSocket = c.guestAgentSocket;
  if (c.netnsPath) record.netnsPath = c.netnsPath;
  record.memoryMib = c.memoryMib;
  if (c.resize) record.resize = { maxVcpus: c.resize.maxVcpus, maxMemoryMib: c.memoryMib + hotplugMib(c) };
  if (c.guestStatsIntervalS !== undefined) record.guestStatsIntervalS = c.guestStatsIntervalS;
  if (c.jail) {
    record.uid = c.jail.uid;
    record.gid = c.jail.gid;
  }
  try {
    writeJsonAtomic(launchRecordPath(c.runDir), record);
  } catch (e) {
    qmp.close();
    signalIfSame(pid, record.startTime, 'SIGKILL');
    throw new InternalError(`qemu-start: cannot persist launch record for ${c.id}: ${(e as Error).message}`, { cause: e });
  }
  log.info({ pid, qemu: qmp.qemuVersion, qmpReadyMs: Date.now() - t0 }, 'qemu up, qmp connected');
  return { record, qmp, child };
}
