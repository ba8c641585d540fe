// Host users other than root reach nothing of a pod through the daemon's
// files (issue 15). The real daemon (dist/src/main.js serve) runs a runc pod
// whose container copies a secret-like file (mounted read-only, as kubelet
// mounts a secret volume) into its rootfs and into the pod's /dev/shm. Then
// every path under the daemon's root and state dirs and the pod's log dir,
// listed by root, is tried as uid nobody: no directory may be listed or
// written, no file read. The pod's /dev/shm is a mode=1777 tmpfs (the
// containers need that inside): it must not be writable from the host.
// A control dir the test makes world-readable shows the probe can succeed.

import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { ContainerConfig } from '../../src/generated/cri/runtime/v1/ContainerConfig';
import type { PodSandboxConfig } from '../../src/generated/cri/runtime/v1/PodSandboxConfig';
import { startDaemon } from '../helpers/daemon';
import { busyboxEntries, makeTar, RegistryPusher } from '../helpers/image-builder';
import { startRegistry, type RunningRegistry } from '../helpers/registry';
import { walkAsNobody } from '../helpers/unprivileged-walk';

t.setTimeout(5 * 60_000);

const SECRET = 'token-3f9a1c-do-not-leak';

let reg: RunningRegistry | undefined;
let imageRef = '';
// Traversable by anyone, so that only what the daemon makes decides (mkdtemp makes 0700).
const parent = mkdtempSync(join(tmpdir(), 'vmpod-perms-'));
chmodSync(parent, 0o755);

t.before(async () => {
  reg = await startRegistry();
  const links = ['sleep', 'cp', 'cat'].map((n) => ({ name: `bin/${n}`, type: 'symlink' as const, linkname: 'busybox' }));
  await new RegistryPusher(reg).pushImage('test/busybox', 'v1', [{ tar: await makeTar([...busyboxEntries(), ...links]), compression: 'gzip' }], {
    config: { Cmd: ['/bin/sh'] },
  });
  imageRef = `${reg.host}/test/busybox:v1`;
});
t.teardown(async () => {
  await reg?.stop();
  rmSync(parent, { recursive: true, force: true });
});

t.test('an unprivileged host user reads nothing of a runc pod, and cannot write its /dev/shm', async (t) => {
  const dir = join(parent, 'd');
  mkdirSync(dir, { mode: 0o755 });
  const d = await startDaemon(t, { dir, config: `[registries."${reg!.host}"]\ninsecure = true\n` });
  t.same([statSync(d.root).mode & 0o7777, statSync(d.state).mode & 0o7777], [0o700, 0o700], 'root and state dirs are 0700');

  // As kubelet lays out a secret volume: a root-only dir holding a 0644 file.
  const secretDir = join(parent, 'kubelet-secret');
  mkdirSync(secretDir, { mode: 0o700 });
  writeFileSync(join(secretDir, 'token'), SECRET, { mode: 0o644 });
  // The control: a world-readable file in a world-readable dir, which the probe must find.
  const control = join(parent, 'control');
  mkdirSync(control, { mode: 0o777 });
  chmodSync(control, 0o777);
  writeFileSync(join(control, 'open'), 'x', { mode: 0o644 });

  await d.client.image.PullImage({ image: { image: imageRef } }, 120_000);
  const logDir = join(dir, 'pod-logs');
  // Host network: no CNI needed; the pod's own IPC namespace gives it a /dev/shm tmpfs under the state dir.
  const pod: PodSandboxConfig = {
    metadata: { name: 'perms', uid: 'uid-perms', namespace: 'default', attempt: 0 },
    hostname: 'perms',
    log_directory: logDir,
    linux: { security_context: { namespace_options: { network: 'NODE', pid: 'POD', ipc: 'POD' } } },
  };
  const { pod_sandbox_id: podId } = await d.client.runtime.RunPodSandbox({ config: pod, runtime_handler: 'runc' }, 60_000);
  const ctr: ContainerConfig = {
    metadata: { name: 'holder', attempt: 0 },
    image: { image: imageRef },
    command: ['/bin/sh', '-c', 'cp /secret/token /copied-token && cp /secret/token /dev/shm/token && cat /secret/token && sleep 600'],
    log_path: 'holder.log',
    mounts: [{ host_path: secretDir, container_path: '/secret', readonly: true }],
  };
  const { container_id } = await d.client.runtime.CreateContainer({ pod_sandbox_id: podId, config: ctr, sandbox_config: pod });
  await d.client.runtime.StartContainer({ container_id });
  const shmCopy = await d.client.runtime.ExecSync({ container_id, cmd: ['/bin/sh', '-c', 'for i in $(seq 50); do [ -f /dev/shm/token ] && break; sleep 0.1; done; cat /dev/shm/token'], timeout: 30 });
  t.equal(shmCopy.stdout.toString(), SECRET, 'the container wrote the secret to its /dev/shm (and its rootfs, and its log)');

  const f = await walkAsNobody([d.root, d.state, logDir, control]);
  const ours = (p: string) => !p.startsWith(control);
  t.ok(
    f.seen.some((p) => p.endsWith('/copied-token')),
    "the walk reached the container's rootfs copy of the secret",
  );
  t.ok(
    f.seen.some((p) => p.endsWith('/shm/token')),
    "and the pod's /dev/shm",
  );
  t.ok(
    f.seen.some((p) => p.endsWith('holder.log')),
    'and its log',
  );
  t.same([f.readable.includes(join(control, 'open')), f.listable.includes(control), f.writable.includes(control)], [true, true, true], 'the probe does find what is open to it (control dir)');
  t.same(f.readable.filter(ours), [], 'no file under root, state or the log dir is readable by nobody');
  t.same(f.writable.filter(ours), [], 'no directory there is writable by nobody (the /dev/shm tmpfs included)');
  // kubelet makes the pod log dirs 0755 itself; vmpod makes the same for a log dir kubelet did not make. Only their files must be closed.
  t.same(
    f.listable.filter((p) => ours(p) && !p.startsWith(logDir)),
    [],
    'no directory under root or state is listable by nobody',
  );
});
