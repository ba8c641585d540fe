// One guest for a bench that drives the agent itself, below the sandbox
// controller (bench/vm-exec, bench/vm-crun): the guest image's fastest boot,
// a 9p share holding a busybox rootfs, the agent over virtio-serial, and
// CreateSandbox with debug processes allowed. The bench's cleanup undoes it
// all, also on Ctrl-C. Each step is timed as QEMU's CPU: under TCG the
// guest's work runs on QEMU's threads whatever the host's load.

import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentClient } from '../../src/agent-client';
import { findGuestImage, type GuestImage } from '../../src/host/guest-image';
import { virtio9pArgs } from '../../src/hypervisor/qemu/devices/virtio-9p';
import { agentServingWithin, dialAgentSocket, serialAgentArgs } from '../../test/helpers/agent-channel';
import { guestQemuArgs, processCpuMs, startGuest, type GuestBootConfig } from '../../test/helpers/guest-console';
import type { Cleanup } from './cleanup';

const FAST: GuestBootConfig = { machine: 'pc', kernel: 'vmlinux', firmware: 'qboot', memoryMib: 512 };
const BUSYBOX = '/bin/busybox';
const BOOT_LIMIT_MS = 180_000;
/** Where the agent mounts the share; a bundle's paths in the guest start here. */
export const SHARE_IN_GUEST = '/run/vmpod/shared';

/** Wall time and QEMU's CPU time of one measured step. */
export interface Sample {
  wallMs: number;
  cpuMs: number;
}

export interface BenchGuest {
  image: GuestImage;
  /** The bench's temp dir (removed by the cleanup). */
  work: string;
  /** The host side of the share the guest mounts at SHARE_IN_GUEST; `rootfs` in it has busybox and the applets asked for. */
  share: string;
  client: AgentClient;
  /** Runs `fn` and says how long it took and how much CPU QEMU spent meanwhile. */
  timed: (fn: () => Promise<void>) => Promise<Sample>;
}

export interface BenchGuestOptions {
  /** Names the temp dir (`vmpod-<name>-…`). */
  name: string;
  /** busybox applets linked into the rootfs's /bin. */
  applets: readonly string[];
  /** How long QEMU may run after the boot before it is killed. */
  runForMs: number;
  callTimeoutMs: number;
}

export async function bootBenchGuest(cleanup: Cleanup, o: BenchGuestOptions): Promise<BenchGuest> {
  const image = findGuestImage(process.env.VMPOD_GUEST_DIR);
  if ('missing' in image) throw new Error(`guest image: ${image.missing}`);
  if (image.manifest.agent !== 'bundle') throw new Error(`guest image ${image.dir} has no agent bundle`);
  const work = mkdtempSync(join(tmpdir(), `vmpod-${o.name}-`));
  cleanup.add('work dir', () => rmSync(work, { recursive: true, force: true }));
  const share = join(work, 'shared');
  const rootfs = join(share, 'rootfs');
  for (const d of ['bin', 'proc', 'sys', 'dev', 'tmp', 'etc']) mkdirSync(join(rootfs, d), { recursive: true });
  copyFileSync(BUSYBOX, join(rootfs, 'bin/busybox'));
  for (const a of o.applets) symlinkSync('busybox', join(rootfs, 'bin', a));

  const sock = join(work, 'agent.sock');
  const shareArgs = virtio9pArgs({ kind: 'virtio-9p', id: 'fs0', path: share, mountTag: 'vmpod-shared' }, 'none');
  const vm = startGuest([...guestQemuArgs(image, FAST), ...serialAgentArgs(sock), ...shareArgs], { timeoutMs: BOOT_LIMIT_MS + o.runForMs, logPath: join(work, 'console.log') });
  cleanup.add('QEMU', () => vm.kill());
  const client = new AgentClient({ connect: () => dialAgentSocket(sock), callTimeoutMs: o.callTimeoutMs });
  cleanup.add('agent client', () => client.close());
  if (!(await agentServingWithin(client, BOOT_LIMIT_MS))) throw new Error(`the agent in guest ${image.hash.slice(0, 12)} did not answer Health within ${BOOT_LIMIT_MS} ms`);
  await client.call('CreateSandbox', {
    sandbox_id: 'bench',
    hostname: 'bench',
    shared_mounts: [{ tag: 'vmpod-shared', mount_point: SHARE_IN_GUEST, msize: 262144, cache: 'mmap' }],
    guest_time_unix_nano: Date.now() * 1e6,
    debug_processes: true,
  });
  const timed = async (fn: () => Promise<void>): Promise<Sample> => {
    const t0 = Date.now();
    const c0 = processCpuMs(vm.pid);
    await fn();
    return { wallMs: Date.now() - t0, cpuMs: processCpuMs(vm.pid) - c0 };
  };
  return { image, work, share, client, timed };
}
