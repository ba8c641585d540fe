// One VM-image container's VM: how QEMU is configured for it (pure), and its
// live side in this daemon: the QEMU handle, the serial console pump (the
// container's CRI log and Attach) and the qemu-guest-agent connection
// (Exec). The container is RUNNING while QEMU runs; when QEMU ends, the
// container is EXITED with what ended it: 0 for a power-off from inside
// the guest (also the answer to the ACPI power button of a stop), non-zero
// with the reason otherwise.
//
//   created ──StartContainer──► running ──QEMU ends (guest power-off, panic, kill)──► exited

import { msToNs, sleep } from '../../../common/time';
import type { VmConfig, VmExit, VmHandle, VmPlacement } from '../../hypervisor';
import type { Logger } from '../../log';
import type { ContainerProcessState } from '../controller';
import type { VmImageContainerData, VmImagePodData } from './data';
import type { GuestAgent } from './guest-agent';
import type { ContainerRunPaths } from './layout';
import type { SerialConsole } from './serial-console';

/** virtio-blk serials the guest sees (/dev/disk/by-id/virtio-<serial>). */
export const ROOT_DISK_ID = 'root';
export const CIDATA_DISK_ID = 'cidata';

export interface VmImageLaunch {
  containerId: string;
  run: ContainerRunPaths;
  pod: VmImagePodData;
  container: VmImageContainerData;
  /** The pod's overlay and cidata disk (derived from the pod dir, not the record). */
  overlay: string;
  cidata: string;
  tcgTbSizeMib: number;
  placement: VmPlacement;
}

/**
 * How often the guest reports its memory figures through the balloon (the
 * container's memory stats, stats.ts): kubelet's stats loops run every 10-15 s.
 */
export const GUEST_STATS_INTERVAL_S = 5;

/** The VM of a VM-image container: its disk behind the pod's overlay, the cidata disk, a socket console and the qemu-guest-agent port. Pure. */
export function vmImageVmConfig(l: VmImageLaunch): VmConfig {
  const { pod, container: c } = l;
  return {
    id: l.containerId,
    runDir: l.run.dir,
    accel: pod.accel,
    vcpus: c.vcpus,
    memoryMib: c.memoryMib,
    ...(pod.accel === 'tcg' && l.tcgTbSizeMib > 0 ? { tcgTbSizeMib: l.tcgTbSizeMib } : {}),
    firmware: c.firmware,
    machine: c.machine,
    // A balloon that is never inflated: the guest's memory figures, and the RAM it frees back to the host.
    guestStatsIntervalS: GUEST_STATS_INTERVAL_S,
    freePageReporting: true,
    disks: [
      { id: ROOT_DISK_ID, path: l.overlay, format: 'qcow2', readOnly: false, backing: { path: c.disk.path, format: c.disk.format }, bootIndex: 0 },
      { id: CIDATA_DISK_ID, path: l.cidata, format: 'raw', readOnly: true },
      ...c.devices.map((d) => ({ id: d.serial, path: d.hostPath, format: 'raw' as const, readOnly: d.readOnly })),
    ],
    console: { kind: 'socket', socketPath: l.run.consoleSocket },
    ...(c.shares.length > 0 ? { shares: c.shares.map((s) => ({ tag: s.tag, path: s.hostPath, readOnly: s.readOnly })) } : {}),
    guestAgentSocket: l.run.guestAgentSocket,
    ...(pod.network ? { network: { ifname: pod.network.tapName, mac: pod.network.mac } } : {}),
    ...(pod.netnsPath ? { netnsPath: pod.netnsPath } : {}),
    placement: l.placement,
    ...(pod.qemuUid !== undefined ? { jail: { uid: pod.qemuUid, gid: pod.qemuUid } } : {}),
  };
}

/** How often the ACPI power button is pressed again during a stop's grace period. */
export const POWER_BUTTON_REPEAT_MS = 10_000;

/** Exit codes of a VM that did not power itself off. */
const EXIT_CODES: Record<VmExit['reason'], number> = { 'guest-shutdown': 0, 'guest-panicked': 1, 'guest-reset': 2, 'host-quit': 143, killed: 137, unknown: 255 };
const EXIT_WORDS: Record<VmExit['reason'], string> = {
  'guest-shutdown': 'guest powered off',
  'guest-panicked': 'guest kernel panicked',
  'guest-reset': 'guest reset the machine',
  'host-quit': 'QEMU was told to quit before the guest powered off',
  killed: 'QEMU was killed',
  unknown: 'the VM ended while vmpod was not watching it (reason unknown)',
};

/** The container's state once its VM ended. Pure. */
export function exitState(e: VmExit): ContainerProcessState {
  const how = e.reason === 'guest-shutdown' ? '' : e.signal ? ` (QEMU ${e.signal})` : e.exitCode !== null && e.exitCode !== 0 ? ` (QEMU exit code ${e.exitCode})` : '';
  return { state: 'exited', exitCode: EXIT_CODES[e.reason], finishedAt: msToNs(e.at), oomKilled: false, message: `${EXIT_WORDS[e.reason]}${how}` };
}

/** The live side of one container's VM. */
export class ContainerVm {
  exit: VmExit | undefined;
  /** Set when this daemon lets go (shutdown): the VM runs on, nothing here reacts to it any more. */
  detached = false;
  readonly exited: Promise<VmExit>;

  constructor(
    readonly podId: string,
    readonly containerId: string,
    readonly vm: VmHandle | undefined,
    readonly console: SerialConsole | undefined,
    readonly agent: GuestAgent | undefined,
    private readonly log: Logger,
    onExit: (state: ContainerProcessState) => void,
  ) {
    if (!vm) {
      // Found after a restart with its QEMU gone.
      this.exit = { reason: 'unknown', exitCode: null, signal: null, at: new Date() };
      this.exited = Promise.resolve(this.exit);
      return;
    }
    vm.onEvent((e) => {
      if (e.type === 'guest-panicked') this.log.warn({ detail: e.detail }, 'guest kernel panicked');
    });
    this.exited = vm.wait();
    void this.exited.then(async (e) => {
      this.exit = e;
      if (this.detached) return;
      this.log.info({ exit: e }, 'container VM ended');
      agent?.close();
      // The console socket's last bytes arrive before its end; give the pump a moment to write them.
      await sleep(300);
      await console?.close();
      onExit(exitState(e));
    });
  }

  get running(): boolean {
    return this.vm !== undefined && this.exit === undefined;
  }

  state(): ContainerProcessState {
    if (this.exit) return exitState(this.exit);
    return { state: 'running', exitCode: 0, finishedAt: '0', oomKilled: false };
  }

  /** ACPI power button, `gracefulMs` for the guest to power off, then quit, then SIGKILL. Idempotent. */
  async stop(gracefulMs: number): Promise<void> {
    if (this.vm && !this.exit) {
      // The button again and again: a guest still booting (no logind yet) ignores a single press.
      const exit = await this.vm.stop({ gracefulTimeoutMs: gracefulMs, quitTimeoutMs: 3000, powerButtonRepeatMs: POWER_BUTTON_REPEAT_MS });
      this.log.info({ exit }, 'container VM stopped');
    }
    await this.exited;
  }

  /** Everything of this daemon's on it: console pump, agent connection. Idempotent. */
  async release(): Promise<void> {
    this.agent?.close();
    await this.console?.close();
  }

  /** Daemon shutdown: drop the connections, leave the VM running. */
  async detach(): Promise<void> {
    this.detached = true;
    this.vm?.detach();
    await this.release();
  }
}
