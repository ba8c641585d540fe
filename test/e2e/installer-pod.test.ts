// The installer image as the DaemonSet runs it, on vmpod itself: built from
// this checkout by src/installer-image (no Docker), pushed to a local
// docker-registry, pulled through the CRI by the real daemon, and run as a
// privileged runc pod with hostPID and the "node's root" a hostPath at /host,
// here a scratch directory. The container's command, environment and preStop
// come from deploy/installer/daemonset.yaml. The test waits for the install
// to finish and the container to stay running (it sleeps, as in the
// DaemonSet), checks what landed under the scratch root (the program, its
// Node.js binary and native parts, the guest image, config, unit, node
// labels, manifest) and that the installed vmpod runs; then does what
// kubelet does on delete (preStop through ExecSync, then StopContainer) and
// checks the scratch root holds exactly what it held before.
//
// The pod uses the host network because this machine has no CNI config for
// the daemon (the DaemonSet pod has a pod network; install.sh does not use
// it). With hostPID, install.sh's probe (a file under HOST_ROOT looked for
// through PID 1's mount namespace) fails for a scratch root, so systemd and
// the real /etc and /opt are left alone; the test checks the installer said
// so and that no vmpod unit or /opt/vmpod appeared on the real host.

import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import type { ContainerConfig } from '../../src/generated/cri/runtime/v1/ContainerConfig';
import type { PodSandboxConfig } from '../../src/generated/cri/runtime/v1/PodSandboxConfig';
import { chooseGuestDir } from '../../src/host/guest-record';
import { buildInstallerImage } from '../../src/installer-image/build';
import { hostInputs } from '../../src/installer-image/payload';
import { pushImage } from '../../src/installer-image/push';
import { projectRoot } from '../../src/paths';
import { leftoverMounts, removeAllPods, startDaemon, waitFor, type TestDaemon } from '../helpers/daemon';
import { REGISTRY_BIN, startRegistry } from '../helpers/registry';
import { runcMissing } from '../helpers/runc-fixture';
import { relativeTree } from '../helpers/lstat-walk';

const ROOT = projectRoot();
const LABELS = 'etc/kubernetes/node-feature-discovery/features.d/vmpod';

/** The installer container of daemonset.yaml: its command, preStop command and env (flow sequences, JSON-compatible). */
function daemonSetContainer(yaml: string): { command: string[]; preStop: string[]; env: Record<string, string> } {
  const command = /^\s+command: (\[.*\])$/m.exec(yaml);
  const preStop = /preStop:\s+exec:\s+command: (\[.*\])$/m.exec(yaml);
  const env = Object.fromEntries([...yaml.matchAll(/- name: (\w+)\n\s+value: (\S+)/g)].map((m) => [m[1], m[2]]));
  if (!command || !preStop) throw new Error('daemonset.yaml: no container command or preStop command found');
  return { command: JSON.parse(command[1]) as string[], preStop: JSON.parse(preStop[1]) as string[], env };
}

const tree = relativeTree;

const sha256 = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

const guest = chooseGuestDir(process.env.VMPOD_GUEST_DIR);
const missing = [
  ...runcMissing(),
  ...(existsSync(REGISTRY_BIN) ? [] : [`docker-registry at ${REGISTRY_BIN}`]),
  ...('missing' in guest ? [`guest image: ${guest.missing}`] : existsSync(join(guest.dir, 'manifest.json')) ? [] : [`guest image manifest in ${guest.dir}`]),
];

if (missing.length > 0) {
  process.stderr.write(`installer pod e2e SKIPPED: missing ${missing.join('; ')}\n`);
  t.test('the installer image as a pod', { skip: `missing ${missing.join('; ')}` }, async () => undefined);
} else {
  t.setTimeout(15 * 60_000);

  t.test('the installer image, run as the DaemonSet runs it, installs into its host root and uninstalls on delete', async (t) => {
    const guestDir = (guest as { dir: string }).dir;
    // The real host's paths the installer would write were it pointed at /: none may appear.
    const realPaths = ['/etc/systemd/system/vmpod.service', '/opt/vmpod', '/opt/vmpod.installed', `/${LABELS}`, '/etc/vmpod/vmpod.toml'];
    const realBefore = realPaths.filter((p) => existsSync(p));

    const dir = mkdtempSync('/tmp/vmpod-installer-pod-');
    let d: TestDaemon | undefined;
    t.teardown(async () => {
      // The pod first (a failed run leaves it running on the scratch root), whatever order tap runs teardowns in.
      if (d) await removeAllPods(d.client);
      for (const m of leftoverMounts(dir, join(dir, 'none')).reverse()) execFileSync('umount', ['-l', m]);
      rmSync(dir, { recursive: true, force: true });
    });
    const reg = await startRegistry();
    t.teardown(() => reg.stop());

    // Build and push: the project's own tooling, as docs/operations.md tells an operator.
    const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    const img = await buildInstallerImage(hostInputs(ROOT, process.execPath, guestDir), join(dir, 'oci'), 'e2e', version);
    const size = img.layers.reduce((n, l) => n + l.size, 0);
    t.comment(`installer image ${img.manifest.digest}: ${(size / 2 ** 20).toFixed(1)} MiB in ${img.layers.length} layers`);
    t.equal(await pushImage(img, { registry: new URL(`http://${reg.host}`), repo: 'vmpod/installer', tag: 'e2e' }), img.manifest.digest, 'pushed');
    const ref = `${reg.host}/vmpod/installer:e2e`;

    d = await startDaemon(t, { logLevel: 'info', config: `[registries."${reg.host}"]\ninsecure = true\n` });
    await d.client.image.PullImage({ image: { image: ref } }, 300_000);
    const st = await d.client.image.ImageStatus({ image: { image: ref } });
    t.ok(st.image?.repo_digests.includes(`${reg.host}/vmpod/installer@${img.manifest.digest}`), 'the daemon pulled the image the builder made (same digest)');

    // The "node": a scratch root with things of its own, which must all be there, unchanged, afterwards.
    const host = join(dir, 'host');
    mkdirSync(join(host, 'etc', 'systemd', 'system'), { recursive: true });
    mkdirSync(join(host, 'opt', 'other'), { recursive: true });
    writeFileSync(join(host, 'etc', 'hostname'), 'node-1\n');
    writeFileSync(join(host, 'etc', 'systemd', 'system', 'kubelet.service'), '[Unit]\n');
    const before = tree(host);

    const ds = daemonSetContainer(readFileSync(join(ROOT, 'deploy', 'installer', 'daemonset.yaml'), 'utf8'));
    t.same(ds.env, { HOST_ROOT: '/host', PAYLOAD: '/opt/vmpod-payload' }, "daemonset.yaml's environment");
    const logDir = join(dir, 'pod-logs');
    const pod: PodSandboxConfig = {
      metadata: { name: 'vmpod-installer', uid: 'uid-installer', namespace: 'vmpod-system', attempt: 0 },
      hostname: 'vmpod-installer',
      log_directory: logDir,
      linux: { security_context: { privileged: true, namespace_options: { network: 'NODE', pid: 'NODE', ipc: 'POD' } } },
    };
    const { pod_sandbox_id: podId } = await d.client.runtime.RunPodSandbox({ config: pod, runtime_handler: 'runc' }, 60_000);
    const ctr: ContainerConfig = {
      metadata: { name: 'installer', attempt: 0 },
      image: { image: ref },
      command: ds.command,
      envs: Object.entries(ds.env).map(([key, value]) => ({ key, value })),
      mounts: [{ container_path: '/host', host_path: host, propagation: 'PROPAGATION_HOST_TO_CONTAINER' }],
      linux: { security_context: { privileged: true, namespace_options: { network: 'NODE', pid: 'NODE', ipc: 'POD' } } },
      log_path: 'installer.log',
    };
    const { container_id: id } = await d.client.runtime.CreateContainer({ pod_sandbox_id: podId, config: ctr, sandbox_config: pod });
    await d.client.runtime.StartContainer({ container_id: id });

    // The DaemonSet's steady state: installed, then sleeping.
    const log = (): string => (existsSync(join(logDir, 'installer.log')) ? readFileSync(join(logDir, 'installer.log'), 'utf8') : '');
    await waitFor(() => /vmpod-installer: installed into \/host/.test(log()) || /vmpod-installer: error/.test(log()), 5 * 60_000, 'the installer to finish').catch((err: Error) =>
      t.fail(`${err.message}\n${log()}`),
    );
    const state = (await d.client.runtime.ContainerStatus({ container_id: id })).status?.state ?? '';
    t.equal(state, 'CONTAINER_RUNNING', 'installed, and the container stays running (sleep)', { log: log() });
    t.match(log(), /not PID 1's root.*systemd left alone/, 'a scratch host root: systemd left alone, and it says so');
    t.notMatch(log(), /vmpod-installer: (warning|error)/, 'no warning or error from the installer');

    // What it installed.
    const opt = join(host, 'opt', 'vmpod');
    t.ok(existsSync(join(opt, 'dist/src/main.js')), 'dist installed');
    t.ok(existsSync(join(opt, 'node_modules/@grpc/grpc-js/package.json')), 'production packages installed');
    t.notOk(existsSync(join(opt, 'node_modules/typescript')), 'no dev packages');
    t.ok(existsSync(join(opt, 'native/infra/build/vmpod-infra')) && existsSync(join(opt, 'native/vsock/build/Release/vsock.node')), 'native parts installed');
    t.equal(statSync(join(opt, 'bin/node')).size, statSync(process.execPath).size, 'the Node.js binary installed');
    t.equal(statSync(join(opt, 'bin/node')).mode & 0o111, 0o111, 'and executable');
    const manifest = JSON.parse(readFileSync(join(guestDir, 'manifest.json'), 'utf8')) as { parts: Record<string, { file: string; size: number }> };
    for (const part of Object.values(manifest.parts)) t.equal(statSync(join(opt, 'guest', part.file)).size, part.size, `guest ${part.file} installed`);
    t.equal(sha256(join(opt, 'guest/manifest.json')), sha256(join(guestDir, 'manifest.json')), 'guest manifest installed');
    // The installed vmpod runs, on the installed node, from the installed packages.
    const v = execFileSync(join(opt, 'bin/node'), [join(opt, 'dist/src/main.js'), 'version'], { encoding: 'utf8' });
    t.match(v, new RegExp(`^vmpod ${version.replace(/\./g, '\\.')}\n`), 'the installed vmpod runs');

    const unit = readFileSync(join(host, 'etc/systemd/system/vmpod.service'), 'utf8');
    t.match(unit, /^ExecStart=\/opt\/vmpod\/bin\/node (--\S+ )*\/opt\/vmpod\/dist\/src\/main\.js serve /m, 'the unit runs the installed node');
    const config = join(host, 'etc/vmpod/vmpod.toml');
    t.match(readFileSync(config, 'utf8'), /^guest_dir = "\/opt\/vmpod\/guest"$/m, 'the config it wrote');
    const labels = readFileSync(join(host, LABELS), 'utf8').trimEnd().split('\n');
    t.same(
      labels.map((l) => l.replace(/=.*/, '')),
      ['vmpod.io/handler.runc', 'vmpod.io/handler.vm', 'vmpod.io/kvm', 'vmpod.io/version', 'vmpod.io/vhost-vsock'],
      'node labels, written by the installed vmpod run inside the installer container',
    );
    t.ok(labels.includes(`vmpod.io/version=${version}`), 'labelled with this version');
    const installed = readFileSync(join(host, 'opt/vmpod.installed'), 'utf8').trimEnd().split('\n');
    t.same(
      installed.filter((l) => !l.startsWith('dir ')),
      ['tree opt/vmpod', `config etc/vmpod/vmpod.toml ${sha256(config)}`, 'file etc/systemd/system/vmpod.service', `file ${LABELS}`],
      'the manifest: the tree, the config with its checksum, the unit, the labels',
    );
    t.same(
      installed.filter((l) => l.startsWith('dir ')),
      ['dir etc/vmpod', 'dir etc/kubernetes', 'dir etc/kubernetes/node-feature-discovery', 'dir etc/kubernetes/node-feature-discovery/features.d'],
      'and the directories it created (not those the node had)',
    );

    // Delete, as kubelet does it: the preStop hook, then stop within the grace period.
    const pre = await d.client.runtime.ExecSync({ container_id: id, cmd: ds.preStop, timeout: '90' }, 120_000);
    t.equal(pre.exit_code, 0, 'preStop (install.sh --uninstall) exits 0', { output: `${pre.stdout.toString()}${pre.stderr.toString()}` });
    t.match(pre.stdout.toString(), /uninstalled from \/host/, 'and says it uninstalled');
    await d.client.runtime.StopContainer({ container_id: id, timeout: '90' }, 120_000);
    t.equal((await d.client.runtime.ContainerStatus({ container_id: id })).status?.state, 'CONTAINER_EXITED', 'the installer container stopped');
    t.same(tree(host), before, 'the host root holds exactly what it held before');
    t.equal(readFileSync(join(host, 'etc', 'hostname'), 'utf8'), 'node-1\n', "the node's own file unchanged");

    await d.client.runtime.StopPodSandbox({ pod_sandbox_id: podId }, 60_000);
    await d.client.runtime.RemovePodSandbox({ pod_sandbox_id: podId }, 60_000);
    t.same(
      realPaths.filter((p) => existsSync(p)),
      realBefore,
      "nothing appeared at the real host's install paths",
    );
  });
}
