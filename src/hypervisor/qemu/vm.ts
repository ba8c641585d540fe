// A QEMU process as a VmHandle: QMP events become VmEvents, and the end of
// the process becomes one VmExit (vm-events.ts translates both). Exit is detected from the child process
// when we spawned it, otherwise (after a daemon restart) from the QMP socket
// closing plus polling /proc for the recorded PID and start time. Devices
// are hot-plugged one at a time, and recorded in the run dir so that a
// restarted daemon can remove them.

import { saveVmState } from './saved-state';
import type { ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { closeSync } from 'node:fs';
import { AlreadyExistsError, FailedPreconditionError, NotFoundError, UnavailableError } from '../../../common/errors';
import { silentLogger, type Logger } from '../../log';
import type { GuestMemoryStats, StopOptions, VmEvent, VmExit, VmHandle, VmHostStats, VmSize, VmState } from '../hypervisor';
import { readVmHostStats } from '../host-stats';
import { readBalloonStats } from './balloon-stats';
import type { VmDevice } from '../vm-device';
import { capConsoleLog, DEFAULT_CONSOLE_KEEP_BYTES, DEFAULT_CONSOLE_MAX_BYTES } from './console-log';
import { ConsoleRing } from './console-ring';
import { readDeviceRecord, writeDeviceRecord } from './device-record';
import { hotplugPlan } from './devices';
import { CONSOLE_CHARDEV_ID, CONSOLE_RING_BYTES } from './devices/serial-console';
import { DEFAULT_UNPLUG_TIMEOUT_MS, plugDevice, qemuDevice, unplugDevice } from './hotplug';
import { tailFile, type LaunchRecord } from './launch';
import { isSameProcessAlive, signalIfSame } from './proc';
import type { QmpClient, QmpEvent } from './qmp';
import { exitReason, guestEndFromStatus, isGuestEnd, toVmEvent } from './vm-events';
import { validateVmDevice } from './validate';
import { cpuCount, resizeCpus, resizeVirtioMem, virtioMemSizeMib } from './resize';

export const DEFAULT_GRACEFUL_TIMEOUT_MS = 10_000;
export const DEFAULT_QUIT_TIMEOUT_MS = 3_000;
const LIVENESS_POLL_MS = 1_000;
const CONSOLE_CAP_INTERVAL_MS = 5_000;
/** How long stop() waits for the last drain of the console ring before it powers the VM off. */
const FINAL_DRAIN_TIMEOUT_MS = 2_000;

export interface QemuVmOptions {
  logger?: Logger;
  consoleMaxBytes?: number;
  consoleKeepBytes?: number;
  /** Drain timing of the console ring (console-ring.ts defaults). */
  consoleDrainMinMs?: number;
  consoleDrainMaxMs?: number;
}

export class QemuVm implements VmHandle {
  readonly id: string;
  readonly pid: number;
  readonly cid?: number;
  readonly agentSocket?: string;
  readonly consoleLog: string;
  readonly consoleSocket?: string;
  readonly guestAgentSocket?: string;
  private readonly events = new EventEmitter();
  private lastEvent: VmEvent | undefined;
  private exit: VmExit | undefined;
  private readonly exited: Promise<VmExit>;
  private resolveExit!: (e: VmExit) => void;
  private poll: NodeJS.Timeout | undefined;
  private consoleCap: NodeJS.Timeout | undefined;
  private readonly capConsole: () => void;
  /** Drains QEMU's console ring into consoleLog while this daemon holds QMP. */
  private readonly consoleRing: ConsoleRing | undefined;
  /** The guest ended (shutdown, reboot, panic): QEMU waits paused until we quit it. */
  private guestEnded = false;
  private stopping: Promise<VmExit> | undefined;
  /** Exit is reported by the child process; /proc polling would race it and lose the signal. */
  private readonly ownChild: boolean;
  private sentKill = false;
  private readonly log: Logger;
  private hotplugged: VmDevice[];
  /** Hot-plug and unplug one at a time: the device record is rewritten after each. */
  private deviceTurn: Promise<unknown> = Promise.resolve();

  /**
   * `child` is the QEMU process when this daemon spawned it; it stays
   * referenced (so wait() is honoured) until detach().
   */
  constructor(
    private readonly runDir: string,
    private readonly record: LaunchRecord,
    private qmp: QmpClient | undefined,
    private readonly child?: ChildProcess,
    opts: QemuVmOptions = {},
  ) {
    const logger = opts.logger ?? silentLogger;
    this.id = record.id;
    this.pid = record.pid;
    if (record.cid !== undefined) this.cid = record.cid;
    if (record.agentSocket !== undefined) this.agentSocket = record.agentSocket;
    this.consoleLog = record.consoleLog;
    if (record.consoleSocket !== undefined) this.consoleSocket = record.consoleSocket;
    if (record.guestAgentSocket !== undefined) this.guestAgentSocket = record.guestAgentSocket;
    this.log = logger.child({ subsystem: 'qemu', podSandboxId: record.id });
    try {
      this.hotplugged = readDeviceRecord(runDir);
    } catch (err) {
      // The VM is still ours to watch and stop; only removing its hot-plugged devices by id is lost.
      this.log.warn({ err }, 'hot-plugged device record unreadable; treating the VM as having none');
      this.hotplugged = [];
    }
    this.exited = new Promise((r) => (this.resolveExit = r));
    if (qmp) this.attachQmp(qmp);
    const max = opts.consoleMaxBytes ?? DEFAULT_CONSOLE_MAX_BYTES;
    const keep = opts.consoleKeepBytes ?? DEFAULT_CONSOLE_KEEP_BYTES;
    this.capConsole = () => {
      if (capConsoleLog(this.consoleLog, max, keep)) this.log.warn({ max }, 'guest console log over its cap, truncated');
      if (record.stderrLog && capConsoleLog(record.stderrLog, max, keep)) this.log.warn({ max }, 'qemu stderr log over its cap, truncated');
    };
    // Unreferenced: capping is housekeeping, it must not keep a daemon alive.
    // Ends with the VM (markExited) or when the daemon lets go of it (detach).
    this.consoleCap = setInterval(this.capConsole, CONSOLE_CAP_INTERVAL_MS);
    this.consoleCap.unref();
    // A socket console has no ring: whoever connects to the socket keeps the output.
    if (qmp && record.consoleSocket === undefined) {
      this.consoleRing = new ConsoleRing({
        read: (size) => this.liveQmp('read the console').ringbufRead(CONSOLE_CHARDEV_ID, size),
        logPath: this.consoleLog,
        maxBytes: max,
        keepBytes: keep,
        ringBytes: CONSOLE_RING_BYTES,
        minDelayMs: opts.consoleDrainMinMs,
        maxDelayMs: opts.consoleDrainMaxMs,
        log: this.log,
      });
      this.consoleRing.start();
    }
    this.ownChild = child !== undefined && child.exitCode === null && child.signalCode === null;
    if (child && this.ownChild) {
      child.once('exit', (code, signal) => this.markExited(code, signal));
    } else {
      // Not our child: nobody tells us when it ends, so look.
      // Kept referenced: whoever awaits wait() must not see the event loop
      // drain first. detach() and the exit clear it.
      this.poll = setInterval(() => this.checkAlive(), LIVENESS_POLL_MS);
      this.checkAlive();
    }
  }

  private attachQmp(qmp: QmpClient): void {
    qmp.on('event', (e: QmpEvent) => {
      const ev = toVmEvent(e);
      if (!ev) return;
      // Our own quit after the guest ended (host-qmp-quit) does not hide why it ended.
      const ours = ev.type === 'shutdown' && !ev.guestInitiated && this.guestEnded;
      if (ev.type !== 'stop' && ev.type !== 'powerdown' && !ours) this.lastEvent = ev;
      this.log.info({ event: ev }, 'vm event');
      this.events.emit('event', ev);
      if (isGuestEnd(ev)) void this.endAfterGuest();
    });
    qmp.on('close', () => this.checkAlive());
    // A guest that ended while no daemon was attached left QEMU paused (see endAfterGuest).
    qmp
      .queryStatus()
      .then((s) => {
        const ev = guestEndFromStatus(s.status);
        if (!ev || this.guestEnded) return;
        this.lastEvent ??= ev;
        void this.endAfterGuest();
      })
      .catch(() => undefined);
  }

  /**
   * The guest powered off, rebooted or panicked, and QEMU is paused there
   * (devices/serial-console.ts: its console ring would die with it). Keep
   * the console's last lines, then let QEMU go.
   */
  private async endAfterGuest(): Promise<void> {
    if (this.guestEnded || this.exit) return;
    this.guestEnded = true;
    await this.waitForDrain();
    const qmp = this.qmp;
    if (this.exit || !qmp || qmp.isClosed) return;
    try {
      await qmp.quit(DEFAULT_QUIT_TIMEOUT_MS);
    } catch (err) {
      // stop() escalates; a QEMU that does not quit is still seen by whoever stops the pod.
      this.log.warn({ err }, 'quitting qemu after the guest ended failed');
    }
  }

  private checkAlive(): void {
    if (this.ownChild) return;
    if (!this.exit && !isSameProcessAlive(this.pid, this.record.startTime)) this.markExited(null, null);
  }

  private markExited(code: number | null, signal: string | null): void {
    if (this.exit) return;
    if (this.poll) clearInterval(this.poll);
    // Nothing writes the logs any more: cap them once more and stop (the
    // timer of every removed pod used to run on for the daemon's life).
    clearInterval(this.consoleCap);
    this.consoleCap = undefined;
    // The ring went with QEMU.
    this.consoleRing?.stop();
    try {
      this.capConsole();
    } catch (err) {
      this.log.warn({ err }, 'capping the console log after the VM ended');
    }
    // Not our child: the signal is unknowable, but if we sent SIGKILL and the
    // process then vanished, that is what ended it.
    const sig = signal ?? (this.sentKill && !this.ownChild ? 'SIGKILL' : null);
    this.exit = { reason: exitReason(this.lastEvent, sig), exitCode: code, signal: sig, at: new Date() };
    this.log.info({ exit: this.exit }, 'qemu exited');
    this.qmp?.close();
    this.resolveExit(this.exit);
  }

  wait(): Promise<VmExit> {
    return this.exited;
  }

  onEvent(listener: (e: VmEvent) => void): () => void {
    this.events.on('event', listener);
    return () => this.events.off('event', listener);
  }

  async status(): Promise<VmState> {
    if (this.exit) return 'exited';
    if (!this.qmp || this.qmp.isClosed) return isSameProcessAlive(this.pid, this.record.startTime) ? 'shutting-down' : 'exited';
    const s = await this.qmp.queryStatus();
    if (s.running) return 'running';
    return s.status === 'shutdown' ? 'shutting-down' : 'paused';
  }

  async start(): Promise<void> {
    await this.liveQmp('start').cont();
  }

  saveState(file: string): Promise<void> {
    // Not beside a hot-plug: the devices saved are the ones a restore must have.
    return this.inDeviceTurn(() => saveVmState(this.liveQmp('save its state'), file));
  }

  resume(): Promise<void> {
    return this.start();
  }

  /** The QMP client, if the VM can still be driven; `action` names the call in the error. */
  private liveQmp(action: string): QmpClient {
    if (this.exit) throw new FailedPreconditionError(`vm ${this.id}: cannot ${action}, the VM has exited (${this.exit.reason})`);
    if (!this.qmp || this.qmp.isClosed) throw new UnavailableError(`vm ${this.id}: cannot ${action}, no QMP connection`);
    return this.qmp;
  }

  async size(): Promise<VmSize> {
    const qmp = this.liveQmp('read its size');
    const boot = this.record.memoryMib ?? 0;
    const r = this.record.resize;
    const cpus = await cpuCount(qmp);
    const extra = r ? await virtioMemSizeMib(qmp) : 0;
    return { vcpus: cpus.plugged, memoryMib: boot + extra, maxVcpus: r?.maxVcpus ?? 0, maxMemoryMib: r?.maxMemoryMib ?? 0, bootMemoryMib: boot };
  }

  resize(target: { vcpus: number; memoryMib: number }): Promise<VmSize> {
    // One resize at a time, and none while a device is plugged (both rewrite what the guest sees on PCI/ACPI).
    return this.inDeviceTurn(async () => {
      const qmp = this.liveQmp('resize');
      const r = this.record.resize;
      const boot = this.record.memoryMib ?? 0;
      if (!r) throw new FailedPreconditionError(`vm ${this.id}: started without resize headroom (by a vmpod before in-place resize); it keeps its size until the pod is recreated`);
      if (target.vcpus > r.maxVcpus) throw new FailedPreconditionError(`vm ${this.id}: ${target.vcpus} vCPUs asked for, beyond its maxcpus ${r.maxVcpus}`);
      if (target.memoryMib > r.maxMemoryMib) throw new FailedPreconditionError(`vm ${this.id}: ${target.memoryMib} MiB asked for, beyond its maxmem headroom ${r.maxMemoryMib} MiB`);
      if (target.memoryMib < boot) throw new FailedPreconditionError(`vm ${this.id}: ${target.memoryMib} MiB asked for, below the ${boot} MiB it booted with (boot memory cannot be unplugged)`);
      this.log.info({ target }, 'vm resize');
      await resizeCpus(qmp, target.vcpus);
      await resizeVirtioMem(qmp, target.memoryMib - boot);
      return this.size();
    });
  }

  /** Run `fn` after every earlier device operation has ended. */
  private inDeviceTurn<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.deviceTurn.then(fn);
    this.deviceTurn = run.catch(() => undefined);
    return run;
  }

  addDevice(device: VmDevice): Promise<void> {
    // A tap fd is ours to close until QMP has it (scm-rights.ts closes it once sent).
    const dropFd = (): void => {
      if (device.kind === 'net' && 'fd' in device.tap) {
        try {
          closeSync(device.tap.fd);
        } catch {
          /* not open */
        }
      }
    };
    return this.inDeviceTurn(async () => {
      const what = `vm ${this.id}: adding ${device.kind} device ${device.id}`;
      let qmp: QmpClient;
      try {
        validateVmDevice(device);
        if (this.hotplugged.some((d) => d.id === device.id)) throw new AlreadyExistsError('vm device', device.id, `vm ${this.id} already has it`);
        qmp = this.liveQmp(`add device ${device.id}`);
      } catch (err) {
        dropFd();
        throw err;
      }
      const t0 = Date.now();
      await plugDevice(qmp, hotplugPlan(qemuDevice(device, this.record.accel)), what, this.log);
      this.hotplugged = [...this.hotplugged, device];
      writeDeviceRecord(this.runDir, this.hotplugged);
      this.log.info({ device: device.id, kind: device.kind, ms: Date.now() - t0 }, 'device hot-plugged');
    });
  }

  removeDevice(id: string, opts: { timeoutMs?: number } = {}): Promise<void> {
    return this.inDeviceTurn(async () => {
      const device = this.hotplugged.find((d) => d.id === id);
      if (!device) throw new NotFoundError('vm device', id, `vm ${this.id} has no hot-plugged device by that id`);
      const qmp = this.liveQmp(`remove device ${id}`);
      const t0 = Date.now();
      await unplugDevice(qmp, hotplugPlan(qemuDevice(device, this.record.accel)), `vm ${this.id}: removing ${device.kind} device ${id}`, opts.timeoutMs ?? DEFAULT_UNPLUG_TIMEOUT_MS);
      this.hotplugged = this.hotplugged.filter((d) => d.id !== id);
      writeDeviceRecord(this.runDir, this.hotplugged);
      this.log.info({ device: id, kind: device.kind, ms: Date.now() - t0 }, 'device removed');
    });
  }

  devices(): VmDevice[] {
    return [...this.hotplugged];
  }

  hostStats(): VmHostStats | undefined {
    if (this.exit || !isSameProcessAlive(this.pid, this.record.startTime)) return undefined;
    return readVmHostStats(this.pid);
  }

  /** The balloon's last report of the guest's memory (balloon-stats.ts checks every figure). */
  async guestMemory(): Promise<GuestMemoryStats | undefined> {
    const intervalS = this.record.guestStatsIntervalS;
    const qmp = this.qmp;
    if (intervalS === undefined || this.exit || !qmp || qmp.isClosed) return undefined;
    const ramMib = Math.max(this.record.resize?.maxMemoryMib ?? 0, this.record.memoryMib ?? 0);
    return readBalloonStats(qmp, { ramBytes: ramMib * 1024 * 1024, intervalS }, this.log);
  }

  /** The console log's tail: what the ring held at the last drain (at most consoleDrainMaxMs old while QEMU runs); '' for a socket console. */
  consoleTail(bytes = 2048): string {
    if (this.consoleSocket !== undefined) return '';
    return tailFile(this.consoleLog, bytes);
  }

  /** Move what the console ring holds into the log now, so that consoleTail() is current (resolves at once for a socket console). */
  async drainConsole(): Promise<void> {
    await this.consoleRing?.drain();
  }

  stop(opts: StopOptions = {}): Promise<VmExit> {
    if (!this.stopping) this.stopping = this.doStop(opts);
    return this.stopping;
  }

  private async waitFor(ms: number): Promise<boolean> {
    if (this.exit) return true;
    let timer: NodeJS.Timeout | undefined;
    const r = await Promise.race([this.exited.then(() => true), new Promise<boolean>((res) => (timer = setTimeout(() => res(false), ms)))]);
    clearTimeout(timer);
    return r;
  }

  private async doStop(opts: StopOptions): Promise<VmExit> {
    const graceful = opts.gracefulTimeoutMs ?? DEFAULT_GRACEFUL_TIMEOUT_MS;
    const quitMs = opts.quitTimeoutMs ?? DEFAULT_QUIT_TIMEOUT_MS;
    const qmp = this.qmp && !this.qmp.isClosed ? this.qmp : undefined;
    if (this.exit) return this.exit;
    // The ring goes with QEMU: keep what the guest printed last (why a boot failed, say) before it does.
    await this.waitForDrain();
    if (qmp && graceful > 0) {
      try {
        const repeat = opts.powerButtonRepeatMs ?? 0;
        await qmp.systemPowerdown(graceful);
        const deadline = Date.now() + graceful;
        for (;;) {
          const left = Math.max(deadline - Date.now(), 0);
          if (await this.waitFor(repeat > 0 ? Math.min(repeat, left) : left)) return this.exited;
          // Pressed once unless asked to repeat; not again in the last moments of the grace.
          if (repeat <= 0 || deadline - Date.now() < 100) break;
          await qmp.systemPowerdown(deadline - Date.now());
        }
        this.log.warn({ graceful }, 'guest did not power off in time, quitting qemu');
      } catch (err) {
        this.log.warn({ err }, 'system_powerdown failed');
      }
    }
    if (qmp && !qmp.isClosed) {
      try {
        await qmp.quit(quitMs);
        if (await this.waitFor(quitMs)) return this.exited;
        this.log.warn('qemu did not exit after quit, killing');
      } catch (err) {
        this.log.warn({ err }, 'qmp quit failed');
      }
    }
    if (await this.waitFor(0)) return this.exited;
    this.sentKill = signalIfSame(this.pid, this.record.startTime, 'SIGKILL');
    // A SIGKILLed process is gone within moments; poll in case it is not our child.
    while (!(await this.waitFor(100))) this.checkAlive();
    return this.exited;
  }

  private async waitForDrain(): Promise<void> {
    if (!this.consoleRing) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.consoleRing.drain(), new Promise((res) => (timer = setTimeout(res, FINAL_DRAIN_TIMEOUT_MS)))]);
    clearTimeout(timer);
  }

  detach(): void {
    if (this.poll) clearInterval(this.poll);
    clearInterval(this.consoleCap);
    this.consoleRing?.stop();
    // QEMU lives on in its own session; the daemon must be free to exit.
    this.child?.unref();
    this.qmp?.removeAllListeners();
    this.qmp?.close();
    this.qmp = undefined;
  }
}
