// VM-image pods (docs/vm-image-pods.md) end to end, as an operator drives
// them: the daemon started from a TOML config with a `vm-image` handler, the
// shared crictl, a real Debian cloud image (vm-images/debian-cloud/build,
// mmdebstrap of bookworm with cloud-init and qemu-guest-agent, cached by
// content hash) packed as a KubeVirt containerDisk and pushed to the shared
// critest registry. Two pods boot the same image side by side (the first
// also gets a block device and a directory volume):
// - cloud-init runs the pod's user-data (a file, a web server), and the test
//   reaches that server on the pod IP from the daemon's netns;
// - `crictl logs` is the serial console (kernel and cloud-init lines);
// - `crictl exec -s` runs through the guest's qemu-guest-agent;
// - `crictl stats` shows the guest's own memory use (balloon statistics),
//   `crictl statsp` QEMU's cost on the host, and what the guest writes to
//   its disk is the container's writable layer;
// - `crictl attach -it` reaches a login prompt on the serial console;
// - each pod writes only its own overlay: a file one writes the other cannot see;
// - a CRI block device is a virtio-blk disk named after its path, a CRI
//   directory mount is mounted where the pod asked (9p, by cloud-init);
// - `crictl stop` powers the guest off through ACPI within the grace period
//   (exit code 0, "guest powered off", the kernel's power-down line logged);
// - a daemon restart leaves both VMs running, and the new daemon reattaches
//   (status, exec, the console log);
// - after `rmp` no QEMU, mount, run dir or pod dir of either pod is left.
//
// Two Debian boots under TCG, overlapping: a few minutes on 2 cores.

import t from 'tap';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../../src/paths';
import { leftoverMounts, startDaemon } from '../helpers/daemon';
import { CRITEST_NETNS, CRITEST_REGISTRY, critestDaemonConfig, sharedCritestMissing } from '../helpers/critest';
import { crictlFor, inCritestNetns, runTool, useSharedCritestWorld } from '../helpers/crictl';

const HANDLER = 'vmimage';
const BUILD = join(projectRoot(), 'vm-images', 'debian-cloud', 'build');
const PUSH_CHILD = join(__dirname, '..', 'helpers', 'push-container-disk-child.js');

/** QEMU processes of a VM-image container (QEMU's -name is `guest=vmpod-<container id>`: each container start boots its own). */
function qemusOf(ctrId: string): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      if (readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(`guest=vmpod-${ctrId},`)) out.push(Number(p));
    } catch {
      /* gone */
    }
  }
  return out;
}

const shellQuote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

const missing =
  sharedCritestMissing(['bin/crictl', 'setup-images.sh', 'teardown.sh', 'cni/10-critest.conflist']) ??
  ['/usr/bin/qemu-system-x86_64', '/usr/bin/mmdebstrap', '/usr/bin/genisoimage', '/usr/bin/script', '/dev/loop-control'].find((p) => !existsSync(p)) ??
  undefined;
if (missing) {
  process.stderr.write(`VM-image pod e2e test SKIPPED: ${missing} is missing\n`);
  t.test('VM-image pods', { skip: `VM-image pod e2e test skipped: ${missing} is missing` }, async () => undefined);
} else {
  // A cold image build (mmdebstrap) takes minutes; then two Debian boots under TCG.
  t.setTimeout(40 * 60_000);
  useSharedCritestWorld(t);

  t.test('a containerDisk boots with cloud-init, console, exec, its own overlay, and powers off', async (t) => {
    // The lock scripts/test's early build holds; not the heavy lock, which whoever runs the suite may hold already.
    const built = await runTool(['env', 'VMPOD_HEAVY_LOCK=', 'flock', '/tmp/vmpod-vm-image-build.lock', BUILD], { timeoutMs: 30 * 60_000 });
    t.equal(built.code, 0, 'vm-images/debian-cloud/build succeeds');
    if (built.code !== 0) {
      t.comment(built.stderr.slice(-4000));
      return;
    }
    const disk = built.stdout.trim().split('\n').pop() ?? '';
    t.ok(existsSync(disk), `the build names the disk it made (${disk})`);

    const tag = `t${process.pid}`;
    const pushed = await runTool(inCritestNetns(['node', PUSH_CHILD, disk, CRITEST_REGISTRY, 'vmpod/debian-cloud', tag]), { timeoutMs: 10 * 60_000 });
    t.equal(pushed.code, 0, 'the containerDisk is pushed to the shared registry');
    if (pushed.code !== 0) {
      t.comment(pushed.stderr.slice(-4000));
      return;
    }
    const image = pushed.stdout.trim();

    const daemonOpts = {
      netns: CRITEST_NETNS,
      config: `${critestDaemonConfig()}\n[runtime.handlers.${HANDLER}]\ntype = "vm-image"\naccel = "tcg"\nvcpus = 1\nmemory_mib = 1024\n`,
    };
    const d = await startDaemon(t, daemonOpts);
    const crictl = crictlFor(d);
    const json = async <T>(cmd: string, ...args: string[]): Promise<T> => JSON.parse(await crictl.run(cmd, '-o', 'json', ...args)) as T;
    await crictl.run('pull', image);

    const userData = (name: string): string =>
      [
        '#cloud-config',
        'write_files:',
        '  - path: /srv/www/index.html',
        `    content: "served by ${name} from cloud-init user-data\\n"`,
        'runcmd:',
        '  - [systemd-run, --unit=vmpod-e2e-web, python3, -m, http.server, "8080", --directory, /srv/www]',
        '',
      ].join('\n');
    // Pod a's volumes: a block device (a loop device over a file holding a marker) and a directory
    // (a ConfigMap's stand-in), as kubelet passes a block-mode PVC and a volume mount.
    const blockFile = join(d.dir, 'block.img');
    writeFileSync(blockFile, Buffer.concat([Buffer.from('vmpod-block-marker\n'), Buffer.alloc(1024 * 1024 - 19)]));
    const loop = execFileSync('losetup', ['--find', '--show', blockFile]).toString().trim();
    t.teardown(() => {
      execFileSync('losetup', ['-d', loop]);
    });
    const configDir = join(d.dir, 'config-volume');
    mkdirSync(configDir);
    writeFileSync(join(configDir, 'greeting'), 'hello from a volume\n');
    const volumes = {
      devices: [{ container_path: '/dev/xvdb', host_path: loop, permissions: 'r' }],
      mounts: [{ container_path: '/mnt/config', host_path: configDir, readonly: true }],
    };
    const startPod = async (name: string, extra: Record<string, unknown> = {}): Promise<{ pod: string; ctr: string }> => {
      const podJson = join(d.dir, `pod-${name}.json`);
      writeFileSync(
        podJson,
        JSON.stringify({
          metadata: { name, namespace: 'default', uid: `${name}-uid`, attempt: 0 },
          hostname: name,
          annotations: { 'vmpod.io/cloud-init-user-data': userData(name) },
          log_directory: join(d.dir, `logs-${name}`),
          linux: {},
        }),
      );
      const ctrJson = join(d.dir, `ctr-${name}.json`);
      writeFileSync(ctrJson, JSON.stringify({ metadata: { name: 'vm' }, image: { image }, log_path: 'vm.log', linux: {}, ...extra }));
      const pod = (await crictl.run('runp', '--runtime', HANDLER, podJson)).trim();
      const ctr = (await crictl.run('create', pod, ctrJson, podJson)).trim();
      await crictl.run('start', ctr);
      return { pod, ctr };
    };

    // Both boot at once: two slow TCG boots overlap instead of adding up.
    const a = await startPod('vmi-a', volumes);
    const b = await startPod('vmi-b');
    for (const [name, p] of [
      ['vmi-a', a],
      ['vmi-b', b],
    ] as const) {
      const insp = await json<{ status: { state: string } }>('inspect', p.ctr);
      t.equal(insp.status.state, 'CONTAINER_RUNNING', `${name}: the container is RUNNING while its VM runs`);
      t.equal(qemusOf(p.ctr).length, 1, `${name}: one QEMU runs for the pod's container`);
    }

    // The serial console is the container's log: wait for cloud-init's last stage.
    const logsOf = async (ctr: string): Promise<string> => (await runTool(crictl.argv('logs', ctr))).stdout;
    const waitLog = async (ctr: string, re: RegExp, what: string): Promise<string> => {
      const deadline = Date.now() + 15 * 60_000;
      let text = '';
      while (Date.now() < deadline) {
        text = await logsOf(ctr);
        if (re.test(text)) return text;
        await new Promise((r) => setTimeout(r, 3000));
      }
      throw new Error(`${what} never appeared in crictl logs; last lines:\n${text.split('\n').slice(-40).join('\n')}`);
    };
    for (const [name, p] of [
      ['vmi-a', a],
      ['vmi-b', b],
    ] as const) {
      const log = await waitLog(p.ctr, /Cloud-init v\. \S+ finished/, `${name}: cloud-init's final stage`);
      t.match(log, /Linux version \d+\.\d+/, `${name}: crictl logs shows the kernel booting`);
      t.match(log, /Cloud-init v\. \S+ running 'modules:final'/, `${name}: crictl logs shows cloud-init's stages`);
    }

    // The network: the pod IP from CNI is the guest's (cloud-init's network-config), and user-data's server answers.
    for (const [name, p] of [
      ['vmi-a', a],
      ['vmi-b', b],
    ] as const) {
      const st = await json<{ status: { network: { ip: string } } }>('inspectp', p.pod);
      const ip = st.status.network.ip;
      t.match(ip, /^10\.88\.\d+\.\d+$/, `${name}: the pod has an IP from CNI`);
      let body = '';
      for (let i = 0; i < 60 && !body.includes('served by'); i++) {
        body = (await runTool(inCritestNetns(['curl', '-s', '--max-time', '5', `http://${ip}:8080/index.html`]), { timeoutMs: 20_000 })).stdout;
        if (!body.includes('served by')) await new Promise((r) => setTimeout(r, 2000));
      }
      t.equal(body, `served by ${name} from cloud-init user-data\n`, `${name}: user-data's web server answers on the pod IP with user-data's file`);
    }

    // Exec through qemu-guest-agent.
    const hostname = await crictl.run('exec', '-s', a.ctr, 'cat', '/etc/hostname');
    t.equal(hostname.trim(), 'vmi-a', "exec -s runs in the guest (through qemu-guest-agent): the pod's hostname, from cloud-init's meta-data");
    const failing = await runTool(crictl.argv('exec', '-s', a.ctr, 'sh', '-c', 'echo to-stderr >&2; exit 3'));
    t.not(failing.code, 0, 'exec -s of a command exiting 3 fails');
    t.match(failing.stdout + failing.stderr, /to-stderr/, 'its stderr comes back through the guest agent');

    // Pod a's volumes, where the pod asked for them: the block device by its serial, the directory over 9p (mounted by cloud-init).
    t.equal(
      (await crictl.run('exec', '-s', a.ctr, 'head', '-c', '19', '/dev/disk/by-id/virtio-xvdb')).trim(),
      'vmpod-block-marker',
      'the CRI block device is a virtio-blk disk named after the path the pod asked for',
    );
    t.equal((await crictl.run('exec', '-s', a.ctr, 'cat', '/mnt/config/greeting')).trim(), 'hello from a volume', 'the CRI directory mount is mounted where the pod asked (9p, by cloud-init)');
    const roWrite = await runTool(crictl.argv('exec', '-s', a.ctr, 'touch', '/mnt/config/new-file'));
    t.not(roWrite.code, 0, 'the read-only mount refuses writes in the guest');
    t.notOk(existsSync(join(configDir, 'new-file')), 'and nothing appeared on the host');

    // Stats: the container's memory is the guest's own word (the balloon's figures), close to what the
    // guest's /proc/meminfo says; the pod's is QEMU's cost on the host, which holds the guest RAM in use.
    type Figure = { value?: string } | undefined;
    const num = (f: Figure): number => Number(f?.value ?? NaN);
    const meminfoUsed = async (): Promise<number> => {
      const m = await crictl.run('exec', '-s', a.ctr, 'cat', '/proc/meminfo');
      const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(m)?.[1] ?? NaN) * 1024;
      return kb('MemTotal') - kb('MemAvailable');
    };
    let statsLine = '';
    let close = false;
    for (let i = 0; i < 20 && !close; i++) {
      const before = await meminfoUsed();
      const st = await json<{ stats: { memory?: { workingSetBytes?: Figure } }[] }>('stats', '--id', a.ctr);
      const after = await meminfoUsed();
      const ws = num(st.stats[0]?.memory?.workingSetBytes);
      // The balloon's figures are up to one polling interval (5 s) old, and the guest's use moves a little meanwhile.
      const slack = Math.max(16 * 1024 * 1024, 0.1 * Math.max(before, after));
      close = ws >= Math.min(before, after) - slack && ws <= Math.max(before, after) + slack;
      statsLine = `crictl stats working set ${(ws / 1048576).toFixed(1)} MiB, guest MemTotal-MemAvailable ${(before / 1048576).toFixed(1)}-${(after / 1048576).toFixed(1)} MiB`;
      if (!close) await new Promise((r) => setTimeout(r, 3000));
    }
    t.ok(close, `the container's memory working set is the guest's own (MemTotal - MemAvailable, through the balloon): ${statsLine}`);
    const podStats = await json<{ stats: { linux?: { memory?: { workingSetBytes?: Figure } } }[] }>('statsp', '--id', a.pod);
    const podWs = num(podStats.stats[0]?.linux?.memory?.workingSetBytes);
    const ctrWs = num((await json<{ stats: { memory?: { workingSetBytes?: Figure } }[] }>('stats', '--id', a.ctr)).stats[0]?.memory?.workingSetBytes);
    t.ok(
      podWs > ctrWs,
      `the pod's memory is QEMU's resident memory, which holds the guest's working set and more (pod ${(podWs / 1048576).toFixed(1)} MiB, container ${(ctrWs / 1048576).toFixed(1)} MiB)`,
    );

    // What the guest writes is the container's writable layer in ContainerStats (the overlay's allocated size),
    // which kubelet holds against the pod's ephemeral-storage limit.
    const layerOf = async (): Promise<number> => num((await json<{ stats: { writableLayer?: { usedBytes?: Figure } }[] }>('stats', '--id', a.ctr)).stats[0]?.writableLayer?.usedBytes);
    const layerBefore = await layerOf();
    await crictl.run('exec', '-s', a.ctr, 'sh', '-c', 'dd if=/dev/urandom of=/var/tmp/vmpod-fill bs=1M count=64 2>/dev/null && sync');
    let layerAfter = layerBefore;
    // The usage is a cached walk, refreshed every 10 s.
    for (let i = 0; i < 20 && layerAfter < layerBefore + 60 * 1048576; i++) {
      await new Promise((r) => setTimeout(r, 2000));
      layerAfter = await layerOf();
    }
    t.ok(
      layerAfter >= layerBefore + 60 * 1048576,
      `64 MiB written in the guest show in the container's writable layer (${(layerBefore / 1048576).toFixed(1)} -> ${(layerAfter / 1048576).toFixed(1)} MiB)`,
    );
    await crictl.run('exec', '-s', a.ctr, 'rm', '-f', '/var/tmp/vmpod-fill');

    // Each pod has its own overlay over the same image.
    await crictl.run('exec', '-s', a.ctr, 'sh', '-c', 'echo only-in-a > /var/tmp/vmpod-marker && sync');
    t.equal((await crictl.run('exec', '-s', a.ctr, 'cat', '/var/tmp/vmpod-marker')).trim(), 'only-in-a', 'pod a wrote a file to its disk');
    const inB = await runTool(crictl.argv('exec', '-s', b.ctr, 'cat', '/var/tmp/vmpod-marker'));
    t.not(inB.code, 0, "pod b's disk does not have pod a's file: each pod writes its own overlay");

    // A daemon restart leaves the VMs running; the new daemon reattaches: status, exec and the console log go on.
    await d.stop();
    t.equal(qemusOf(a.ctr).length + qemusOf(b.ctr).length, 2, 'the VMs run on while the daemon is down');
    await startDaemon(t, { ...daemonOpts, dir: d.dir });
    const afterRestart = await json<{ status: { state: string } }>('inspect', b.ctr);
    t.equal(afterRestart.status.state, 'CONTAINER_RUNNING', 'after a daemon restart the container is still RUNNING');
    t.equal((await crictl.run('exec', '-s', b.ctr, 'cat', '/etc/hostname')).trim(), 'vmi-b', 'after a daemon restart exec reaches the guest agent again');
    const logBefore = (await logsOf(b.ctr)).length;
    await crictl.run('exec', '-s', b.ctr, 'sh', '-c', 'echo vmpod-console-after-restart > /dev/ttyS0');
    t.match(
      await waitLog(b.ctr, /vmpod-console-after-restart/, 'a console line written after the restart'),
      /vmpod-console-after-restart/,
      'the restarted daemon pumps the console into the log again',
    );
    t.ok((await logsOf(b.ctr)).length > logBefore, 'the log grew after the restart');

    // The serial console is interactive: attach -it reaches the getty's login prompt.
    const term = spawn('script', ['-qec', crictl.argv('attach', '-it', b.ctr).map(shellQuote).join(' '), '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let screen = '';
    term.stdout.on('data', (c: Buffer) => (screen += c.toString()));
    term.stderr.on('data', (c: Buffer) => (screen += c.toString()));
    term.stdin.on('error', () => undefined);
    const termExited = new Promise<void>((resolve) => term.once('exit', () => resolve()));
    for (let i = 0; i < 60 && !/login:/.test(screen); i++) {
      term.stdin.write('\r');
      await new Promise((r) => setTimeout(r, 1000));
    }
    t.match(screen, /vmi-b login:/, `attach -it: the serial console shows the guest's login prompt (${screen.slice(-300)})`);
    if (term.exitCode === null) term.kill('SIGTERM');
    await termExited;

    // stop: ACPI power-down within the grace period, not a kill.
    await crictl.run('stop', '--timeout', '180', a.ctr);
    const stopped = await json<{ status: { state: string; exitCode: number; reason: string; message: string } }>('inspect', a.ctr);
    t.equal(stopped.status.state, 'CONTAINER_EXITED', 'stop: the container is EXITED');
    t.equal(stopped.status.exitCode, 0, `stop: the guest powered off by itself within the grace period (exit 0; ${stopped.status.reason} ${stopped.status.message})`);
    t.match(await logsOf(a.ctr), /reboot: Power down/, "stop: the guest kernel's power-down line is in the log (an orderly shutdown)");
    t.equal(qemusOf(a.ctr).length, 0, "stop: pod a's QEMU has ended");

    for (const p of [a, b]) {
      await crictl.run('stopp', p.pod);
      await crictl.run('rmp', p.pod);
    }
    for (const p of [a, b]) t.same(qemusOf(p.ctr), [], `rmp: no QEMU of pod ${p.pod.slice(0, 12)} is left`);
    t.same(leftoverMounts(d.dir, d.state), [], 'rmp: no mount of the pods is left');
    const podDirs = join(d.state, 'vm-image');
    t.same(existsSync(podDirs) ? readdirSync(podDirs) : [], [], 'rmp: no pod dir (overlay, cidata) is left in the state dir');
    const runDirs = execFileSync('sh', ['-c', `grep -l -s -e ${shellQuote(a.ctr)} -e ${shellQuote(b.ctr)} /run/vmpod/s/*/vm.json || true`])
      .toString()
      .trim();
    t.equal(runDirs, '', 'rmp: no VM run dir of either pod is left');
  });
}
