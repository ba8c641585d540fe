// The guest image booted under QEMU TCG with two 9p exports, one per
// security model, built by the daemon's own virtio9pArgs: `none` (the pod
// share's model: it serves a busybox container rootfs and a volume dir) and
// `mapped-xattr` (a volume dir). The agent mounts both; one container binds
// the none volume at /none and the mapped-xattr one at /mapped, and
// `sh(script)` runs a script in it as root. For tests and benches that
// compare what each model lets a guest do on the host, and what it costs.

import { copyFileSync, existsSync, mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { AgentClient } from '../../src/agent-client';
import type { GuestImage } from '../../src/host/guest-image';
import type { OciSpec } from '../../src/oci/types';
import { virtio9pArgs } from '../../src/hypervisor/qemu/devices/virtio-9p';
import { agentServingWithin, dialAgentSocket, serialAgentArgs } from './agent-channel';
import { guestQemuArgs, missingForBoot, startGuest, type GuestBootConfig, type GuestProcess } from './guest-console';
import { DEFAULT_CAPABILITIES } from '../../src/oci/capabilities';

const FAST: GuestBootConfig = { machine: 'pc', kernel: 'vmlinux', firmware: 'qboot', memoryMib: 512 };
const BUSYBOX = '/bin/busybox';
const BOOT_LIMIT_MS = 240_000;

export interface TwoModelGuest {
  /** Host dirs the container sees at /none and /mapped. */
  dirs: { none: string; mapped: string };
  /** Run `sh -c script` (stderr folded into stdout) in the container, as root unless `uid` says; exit code and output. */
  sh: (script: string, o?: { timeoutMs?: number; uid?: number }) => Promise<{ code: number; out: string }>;
  close: () => Promise<void>;
}

/** Why the guest cannot boot here, if it cannot. */
export function missingForTwoModelGuest(): string | undefined {
  return missingForBoot(FAST) ?? (existsSync(BUSYBOX) ? undefined : `${BUSYBOX} is missing (apt-get install busybox-static)`);
}

/** Boot the guest with both exports under `work` (an empty dir the caller removes) and start the container. */
export async function startTwoModelGuest(img: GuestImage, work: string): Promise<TwoModelGuest> {
  const share = join(work, 'shared');
  const mapped = join(work, 'mapped');
  const rootfs = join(share, 'c1', 'rootfs');
  for (const d of ['bin', 'proc', 'sys', 'dev', 'tmp', 'etc', 'none', 'mapped']) mkdirSync(join(rootfs, d), { recursive: true });
  mkdirSync(join(share, 'vol'));
  mkdirSync(mapped);
  copyFileSync(BUSYBOX, join(rootfs, 'bin/busybox'));
  // Symlinks, as image layers have them: they must keep working on the none share.
  for (const a of ['sh', 'cat', 'sleep', 'cp', 'chown', 'chmod', 'mknod', 'mkfifo', 'stat', 'mkdir', 'ln', 'readlink', 'dd', 'ls', 'seq', 'rm', 'echo', 'cut', 'sync', 'touch'])
    symlinkSync('busybox', join(rootfs, 'bin', a));
  execFileSync('runc', ['spec', '--bundle', work]);
  const spec = JSON.parse(readFileSync(join(work, 'config.json'), 'utf8')) as OciSpec;
  spec.process.terminal = false;
  spec.process.args = ['/bin/sleep', '3600'];
  spec.root = { ...spec.root, readonly: false };
  // The capabilities a CRI runtime gives a container by default (containerd's list, as vmpod uses it): chown, mknod, dac_override and the rest.
  const caps = [...DEFAULT_CAPABILITIES];
  spec.process.capabilities = { bounding: caps, effective: caps, permitted: caps, inheritable: [], ambient: [] };
  const bind = (destination: string, source: string) => ({ destination, type: 'bind', source, options: ['rbind', 'rw'] });
  spec.mounts = [...(spec.mounts ?? []), bind('/none', '/run/vmpod/shared/vol'), bind('/mapped', '/run/vmpod/mapped')];

  const sock = join(work, 'agent.sock');
  const args = [
    ...guestQemuArgs(img, FAST),
    ...serialAgentArgs(sock),
    ...virtio9pArgs({ kind: 'virtio-9p', id: 'fsnone', path: share, mountTag: 'vmpod-shared' }, 'none'),
    ...virtio9pArgs({ kind: 'virtio-9p', id: 'fsmapped', path: mapped, mountTag: 'vmpod-mapped' }, 'mapped-xattr'),
  ];
  const vm: GuestProcess = startGuest(args, { timeoutMs: 60 * 60_000, logPath: join(work, 'console.log') });
  const sockets: Socket[] = [];
  const client = new AgentClient({ connect: () => dialAgentSocket(sock, sockets), callTimeoutMs: 60_000 });
  const close = async (): Promise<void> => {
    client.close();
    for (const s of sockets) s.destroy();
    vm.kill();
    await vm.done.catch(() => undefined);
  };
  try {
    const healthy = await agentServingWithin(client, BOOT_LIMIT_MS);
    if (!healthy) throw new Error(`the guest's agent did not answer within ${BOOT_LIMIT_MS} ms (console: ${join(work, 'console.log')})`);
    await client.call('CreateSandbox', {
      sandbox_id: 'two-model',
      hostname: 'two-model',
      shared_mounts: [
        { tag: 'vmpod-shared', mount_point: '/run/vmpod/shared', msize: 0, cache: '', read_only: false },
        { tag: 'vmpod-mapped', mount_point: '/run/vmpod/mapped', msize: 0, cache: '', read_only: false },
      ],
      guest_time_unix_nano: Date.now() * 1e6,
    });
    await client.call('CreateContainer', { container_id: 'c1', oci_spec_json: Buffer.from(JSON.stringify(spec)), rootfs_path: 'c1/rootfs' });
    await client.call('StartContainer', { container_id: 'c1' }, { timeoutMs: 60_000 });
  } catch (err) {
    await close();
    throw err;
  }

  let execs = 0;
  const sh = async (script: string, o: { timeoutMs?: number; uid?: number } = {}): Promise<{ code: number; out: string }> => {
    const execId = `e${++execs}`;
    const timeoutMs = o.timeoutMs ?? 300_000;
    const uid = o.uid ?? 0;
    const proc = { args: ['/bin/sh', '-c', `exec 2>&1\n${script}`], env: ['PATH=/bin'], cwd: '/', user: { uid, gid: uid } };
    await client.call('ExecProcess', { container_id: 'c1', exec_id: execId, process_json: Buffer.from(JSON.stringify(proc)) }, { timeoutMs: 60_000 });
    const w = await client.waitProcess({ container_id: 'c1', exec_id: execId, wait_ms: timeoutMs });
    let out = '';
    for (let i = 0; i < 30; i++) {
      const r = await client.readStdout({ container_id: 'c1', exec_id: execId, wait_ms: 1000 });
      out += Buffer.from(r.data).toString();
      if (r.eof) break;
    }
    return { code: w.exited ? w.exit_code : -1, out: out.trim() };
  };
  return { dirs: { none: join(share, 'vol'), mapped }, sh, close };
}
