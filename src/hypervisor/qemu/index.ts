// The QEMU implementation of Hypervisor: a thin front over launch (spawn +
// persistence), the QMP client and QemuVm (events, exit, stop escalation,
// hot-plug). prepare() launches with the vCPUs stopped (-S), for devices
// added before handle.start() (`cont` over QMP); start() launches running,
// so the guest boots while the daemon connects to QMP and records the
// launch: nothing of those needs the guest stopped (its cgroup, OOM score
// and jail are in place before QEMU's exec; a guest that ends before QMP
// is connected leaves QEMU paused, which QemuVm reads from query-status).
// A config with restoreFrom resumes a saved VM (saved-state.ts) instead.

import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { InternalError, NotFoundError } from '../../../common/errors';
import { sleep } from '../../../common/time';
import { silentLogger, type Logger } from '../../log';
import type { Hypervisor, VmHandle } from '../hypervisor';
import { RUN_FILES, type VmConfig } from '../vm-config';
import { DEFAULT_QEMU_OPTIONS, type QemuOptions } from './cmdline';
import { launchQemu, readLaunchRecord, tailFile } from './launch';
import { restoreVmState } from './saved-state';
import { isSameProcessAlive, processStartTime, signalIfSame } from './proc';
import { QmpClient } from './qmp';
import { validateVmConfig } from './validate';
import { QemuVm, type QemuVmOptions } from './vm';

export interface QemuHypervisorOptions {
  qemuBinary?: string;
  /** The guest console log is cut to its last consoleKeepBytes when it grows past this. */
  consoleMaxBytes?: number;
  consoleKeepBytes?: number;
  qemuOptions?: QemuOptions;
  qmpTimeoutMs?: number;
  logger?: Logger;
}

export class QemuHypervisor implements Hypervisor {
  readonly name = 'qemu';
  private readonly log: Logger;

  constructor(private readonly opts: QemuHypervisorOptions = {}) {
    this.log = opts.logger ?? silentLogger;
  }

  async prepare(config: VmConfig): Promise<VmHandle> {
    return this.launch({ ...config, paused: true });
  }

  async start(config: VmConfig): Promise<VmHandle> {
    // prepare() implies paused, which would let a config without a kernel through.
    validateVmConfig(config);
    // Without -S (unless config.paused): the guest's boot does not wait for the QMP handshake, the
    // launch record and a `cont` round trip.
    return this.launch(config);
  }

  private async launch(config: VmConfig): Promise<VmHandle> {
    const launched = await launchQemu(config, {
      qemuBinary: this.opts.qemuBinary,
      qemuOptions: this.opts.qemuOptions ?? DEFAULT_QEMU_OPTIONS,
      qmpTimeoutMs: this.opts.qmpTimeoutMs,
      logger: this.log,
    });
    const vm = new QemuVm(config.runDir, launched.record, launched.qmp, launched.child, this.vmOptions());
    if (config.restoreFrom !== undefined) {
      try {
        await restoreVmState(launched.qmp, config.restoreFrom);
        // The state says the saved VM was stopped (it is stopped to be saved), so QEMU stays paused after loading it.
        if (!config.paused) await vm.start();
      } catch (err) {
        await vm.stop({ gracefulTimeoutMs: 0, quitTimeoutMs: 2000 }).catch(() => undefined);
        const stderr = tailFile(launched.record.stderrLog ?? '');
        throw new InternalError(`qemu-start: VM ${config.id} could not resume from ${config.restoreFrom}: ${(err as Error).message}${stderr ? `; QEMU: ${stderr}` : ''}`, { cause: err });
      }
    }
    return vm;
  }

  private vmOptions(): QemuVmOptions {
    return { logger: this.log, consoleMaxBytes: this.opts.consoleMaxBytes, consoleKeepBytes: this.opts.consoleKeepBytes };
  }

  async reconnect(runDir: string): Promise<VmHandle | undefined> {
    let record;
    try {
      record = readLaunchRecord(runDir);
    } catch (err) {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    }
    if (!isSameProcessAlive(record.pid, record.startTime)) return undefined;
    let qmp: QmpClient | undefined;
    try {
      qmp = await QmpClient.connect(record.qmpSocket, { logger: this.log.child({ subsystem: 'qmp', podSandboxId: record.id }) });
    } catch (err) {
      // QEMU alive but its monitor unusable: still hand back a handle, whose
      // stop() escalates straight to SIGKILL.
      this.log.warn({ err, podSandboxId: record.id }, 'qemu alive but qmp unreachable');
    }
    return new QemuVm(runDir, record, qmp, undefined, this.vmOptions());
  }

  async destroy(runDir: string): Promise<void> {
    let target: { pid: number; startTime: string } | undefined;
    try {
      const record = readLaunchRecord(runDir);
      target = { pid: record.pid, startTime: record.startTime };
    } catch (err) {
      if (!(err instanceof NotFoundError)) this.log.warn({ err, runDir }, 'destroy: launch record unreadable');
      // A daemon killed between spawn and persisting the record leaves a
      // QEMU known only by its pidfile.
      target = orphanFromPidfile(runDir);
    }
    if (target && signalIfSame(target.pid, target.startTime, 'SIGKILL')) {
      const deadline = Date.now() + 5_000;
      while (isSameProcessAlive(target.pid, target.startTime) && Date.now() < deadline) await sleep(50);
    }
    rmSync(runDir, { recursive: true, force: true });
  }
}

/**
 * The QEMU named by `runDir`'s pidfile, if that PID is still a QEMU of this
 * run dir (its command line names the run dir's QMP socket): a PID alone may
 * have been recycled.
 */
export function orphanFromPidfile(runDir: string): { pid: number; startTime: string } | undefined {
  try {
    const pid = Number(readFileSync(join(runDir, RUN_FILES.pidfile), 'utf8').trim());
    if (!Number.isInteger(pid) || pid <= 1) return undefined;
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    if (!argv.some((a) => a.includes(join(runDir, RUN_FILES.qmpSocket)))) return undefined;
    const startTime = processStartTime(pid);
    return startTime === undefined ? undefined : { pid, startTime };
  } catch {
    return undefined;
  }
}

export { buildQemuArgs, kernelParams, vmDevices, memoryArg, DEFAULT_QEMU_OPTIONS } from './cmdline';
export type { QemuOptions } from './cmdline';
export { QmpClient } from './qmp';
export { detectAccel, vhostVsockUsable } from './accel';
export { DeviceHotplugError, DEFAULT_UNPLUG_TIMEOUT_MS } from './hotplug';
