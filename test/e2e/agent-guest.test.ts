// The real agent in the real guest: boots the guest image under QEMU TCG with
// the agent channel on a virtio-serial port and a busybox rootfs shared over
// 9p, then drives it through the host client: Health, CreateSandbox (9p
// mount), a container from the shared rootfs (output read back after the
// host dropped and re-opened the link), an exec of
// `cat /proc/version` (must be the guest's kernel, not the host's; its stdio
// pipes, as the addon's posix_spawn makes them, not Node's socketpairs), a
// port-forward to an HTTP server in a container, a container and an exec on
// terminals (resized while running; CloseStdin is end-of-file), an OOM kill
// under a small memory limit, and DestroySandbox, which must power the VM off. One VM.
// Kernel modules: while containers run, the guest has loaded exactly the
// modules the manifest says init loads at boot (nothing more at boot time);
// then a container with CAP_NET_ADMIN creates bridges (`ip link add type
// bridge`, `brctl addbr`), a veth pair and iptables-nft filter and NAT rules,
// which works only if the guest kernel loads bridge, veth, nf_tables,
// conntrack and NAT from the rootfs on demand.
//
// Needs a guest image that holds the real agent bundle (scripts/build-agent,
// then guest-image/build); VMPOD_GUEST_DIR points at another image dir.

import t from 'tap';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { findGuestImage, type GuestImage } from '../../src/host/guest-image';
import { agentServingWithin, dialAgentSocket, serialAgentArgs } from '../helpers/agent-channel';
import { guestQemuArgs, missingForBoot, startGuest, type GuestBootConfig } from '../helpers/guest-console';
import { AgentClient } from '../../src/agent-client';
import type { OciSpec } from '../../src/oci/types';

const FAST: GuestBootConfig = { machine: 'pc', kernel: 'vmlinux', firmware: 'qboot', memoryMib: 512 };
const BUSYBOX = '/bin/busybox';
// iptables as a container image carries it: the nft variant, its libraries and extensions.
const IPTABLES = '/usr/sbin/xtables-nft-multi';
const XTABLES_DIR = '/usr/lib/x86_64-linux-gnu/xtables';
const BOOT_LIMIT_MS = 180_000;

const found = findGuestImage(process.env.VMPOD_GUEST_DIR);
const missing =
  'missing' in found
    ? found.missing
    : (missingForBoot(FAST) ??
      (found.manifest.agent === 'fallback' ? `guest image ${found.dir} holds the fallback agent, not vmpod-agent: run scripts/build-agent then guest-image/build` : undefined) ??
      (existsSync(BUSYBOX) ? undefined : `${BUSYBOX} is missing (apt-get install busybox-static)`) ??
      (existsSync(IPTABLES) && existsSync(XTABLES_DIR) ? undefined : `${IPTABLES} or ${XTABLES_DIR} is missing (apt-get install iptables)`) ??
      (found.manifest.modules_on_demand ? undefined : `guest image ${found.dir} predates modules on demand: rebuild it with guest-image/build`));

if (missing) {
  t.fail(`agent guest test cannot run: ${missing}`);
} else {
  const img = found as GuestImage;
  const work = mkdtempSync(join(tmpdir(), 'vmpod-agent-e2e-'));
  t.teardown(() => rmSync(work, { recursive: true, force: true }));

  // A busybox container rootfs and a runc-generated spec, in the dir shared over 9p.
  const share = join(work, 'shared');
  const rootfs = join(share, 'c1', 'rootfs');
  for (const d of ['bin', 'proc', 'sys', 'dev', 'tmp', 'etc', 'www']) mkdirSync(join(rootfs, d), { recursive: true });
  copyFileSync(BUSYBOX, join(rootfs, 'bin/busybox'));
  writeFileSync(join(rootfs, 'www', 'index.html'), 'served-from-the-guest\n');
  for (const a of ['sh', 'cat', 'echo', 'sleep', 'httpd', 'stty', 'tty']) symlinkSync('busybox', join(rootfs, 'bin', a));
  execFileSync('runc', ['spec', '--bundle', work]);
  const spec = JSON.parse(readFileSync(join(work, 'config.json'), 'utf8')) as OciSpec;
  spec.process.terminal = false;
  spec.process.args = ['/bin/sh', '-c', 'echo hello-from-container; exec sleep 600'];

  // A rootfs for the module check: busybox (ip, brctl) and iptables-nft.
  const netRootfs = join(share, 'net', 'rootfs');
  for (const d of ['bin', 'sbin', 'proc', 'sys', 'dev', 'tmp', 'run', 'etc']) mkdirSync(join(netRootfs, d), { recursive: true });
  copyFileSync(BUSYBOX, join(netRootfs, 'bin/busybox'));
  for (const a of ['sh', 'ip', 'brctl', 'cut', 'sort', 'tr', 'echo']) symlinkSync('busybox', join(netRootfs, 'bin', a));
  const xtables = readdirSync(XTABLES_DIR)
    .filter((f) => f.endsWith('.so'))
    .map((f) => join(XTABLES_DIR, f));
  const libs = new Set<string>();
  for (const f of [IPTABLES, ...xtables]) {
    for (const m of execFileSync('ldd', [f], { encoding: 'utf8' }).matchAll(/(?:=> )?(\/\S+) \(0x/g)) libs.add(m[1]);
  }
  for (const f of [IPTABLES, ...xtables, ...libs]) {
    mkdirSync(join(netRootfs, dirname(f)), { recursive: true });
    copyFileSync(f, join(netRootfs, f));
  }
  symlinkSync('xtables-nft-multi', join(netRootfs, 'usr/sbin/iptables-nft'));
  const netCaps = [...new Set([...spec.process.capabilities.bounding, 'CAP_NET_ADMIN', 'CAP_NET_RAW'])];
  const netScript = [
    'exec 2>&1',
    "mods() { cut -d' ' -f1 /proc/modules | sort | tr '\\n' ' '; }",
    'echo "before: $(mods)"',
    'ip link add b0 type bridge && echo "ip-link-bridge: ok"',
    'brctl addbr b1 && echo "brctl-addbr: ok"',
    'ip link add v0 type veth && echo "ip-link-veth: ok"',
    'iptables-nft -A INPUT -p tcp --dport 9 -m conntrack --ctstate NEW -j DROP && echo "iptables-filter: ok"',
    'iptables-nft -t nat -A POSTROUTING -m addrtype ! --dst-type LOCAL -j MASQUERADE && echo "iptables-nat: ok"',
    'iptables-nft -S INPUT; iptables-nft -t nat -S POSTROUTING',
    'echo "after: $(mods)"',
  ].join('\n');
  const netSpec = {
    ...spec,
    root: { ...spec.root, readonly: false },
    process: {
      ...spec.process,
      args: ['/bin/sh', '-c', netScript],
      env: ['PATH=/bin:/sbin:/usr/sbin'],
      capabilities: Object.fromEntries(Object.keys(spec.process.capabilities).map((k) => [k, netCaps])),
    },
  };

  const sock = join(work, 'agent.sock');
  const args = [
    ...guestQemuArgs(img, FAST),
    ...serialAgentArgs(sock),
    '-fsdev',
    `local,id=fs0,path=${share},security_model=none,multidevs=remap`,
    '-device',
    'virtio-9p-pci,fsdev=fs0,mount_tag=vmpod-shared',
  ];
  const vm = startGuest(args, { timeoutMs: BOOT_LIMIT_MS + 120_000, logPath: join(work, 'console.log') });
  t.teardown(() => vm.kill());

  const sockets: Socket[] = [];
  const client = new AgentClient({ connect: () => dialAgentSocket(sock, sockets), callTimeoutMs: 30_000 });
  t.teardown(() => client.close());

  /** Stdout of a process that has exited, up to its eof (or 10 s). */
  const stdoutOf = async (containerId: string, execId: string): Promise<string> => {
    let out = '';
    for (let i = 0; i < 10; i++) {
      const r = await client.readStdout({ container_id: containerId, exec_id: execId, wait_ms: 1000 });
      out += Buffer.from(r.data).toString();
      if (r.eof) break;
    }
    return out;
  };

  t.test('agent in the guest: health, container, exec, destroy', async (t) => {
    const healthy = await agentServingWithin(client, BOOT_LIMIT_MS);
    t.ok(healthy, 'Health answered over virtio-serial');
    if (!healthy) return;
    const v = await client.call('Version', {});
    t.equal(v.kernel_release, img.manifest.kernel.release, 'Version reports the guest kernel');
    const agentLog = await client.readAgentLog({ since_seq: 0 });
    t.ok(
      agentLog.lines.some((l) => /vmpod-agent starting/.test(l.msg)),
      "ReadAgentLog returns the agent's own start-up line",
    );

    await client.call('CreateSandbox', {
      sandbox_id: 'e2e',
      hostname: 'e2e-pod',
      shared_mounts: [{ tag: 'vmpod-shared', mount_point: '/run/vmpod/shared', msize: 262144, cache: 'mmap' }],
      guest_time_unix_nano: Date.now() * 1e6,
    });
    await client.call('CreateContainer', { container_id: 'c1', oci_spec_json: Buffer.from(JSON.stringify(spec)), rootfs_path: 'c1/rootfs' });
    const { pid } = await client.call('StartContainer', { container_id: 'c1' }, { timeoutMs: 60_000 });
    t.ok(pid > 0, `container started (pid ${pid})`);
    // The host side drops the link (a daemon restart) before reading the output.
    const dialsBefore = sockets.length;
    sockets[sockets.length - 1].destroy();
    await new Promise((r) => setTimeout(r, 1500));
    let out = '';
    for (let i = 0; i < 30 && !out.includes('\n'); i++) {
      const r = await client.readStdout({ container_id: 'c1', wait_ms: 2000 });
      out += Buffer.from(r.data).toString();
      if (r.eof) break;
    }
    t.equal(out, 'hello-from-container\n', 'container output read back, nothing lost across the reconnect');
    t.equal(sockets.length, dialsBefore + 1, 'the client reconnected once');

    await client.call(
      'ExecProcess',
      {
        container_id: 'c1',
        exec_id: 'e1',
        process_json: Buffer.from(
          JSON.stringify({ args: ['/bin/sh', '-c', 'cat /proc/version; busybox readlink /proc/self/fd/1; busybox readlink /proc/self/fd/2'], env: ['PATH=/bin'], cwd: '/', user: { uid: 0, gid: 0 } }),
        ),
      },
      { timeoutMs: 60_000 },
    );
    const w = await client.waitProcess({ container_id: 'c1', exec_id: 'e1', wait_ms: 30_000 });
    t.same([w.exited, w.exit_code], [true, 0], 'exec exited 0');
    const [version, ...stdio] = (await stdoutOf('c1', 'e1')).split('\n');
    // crun passes the agent's fds through: pipes, where Node's spawn gives socketpairs (a fallback that forks the agent).
    t.match(stdio.slice(0, 2), [/^pipe:/, /^pipe:/], "the exec's stdout and stderr are pipes: the agent started crun with the addon's posix_spawn");
    t.match(version, new RegExp(`^Linux version ${img.manifest.kernel.release.replace(/\./g, '\\.')} `), 'cat /proc/version shows the guest kernel');
    t.not(version.trim(), readFileSync('/proc/version', 'utf8').trim(), 'not the host kernel');

    // Kernel modules on demand (the guest kernel runs the rootfs's /sbin/modprobe).
    await client.call('CreateContainer', { container_id: 'net', oci_spec_json: Buffer.from(JSON.stringify(netSpec)), rootfs_path: 'net/rootfs' });
    await client.call('StartContainer', { container_id: 'net' }, { timeoutMs: 60_000 });
    const nw = await client.waitProcess({ container_id: 'net', wait_ms: 60_000 });
    const netOut = await stdoutOf('net', '');
    const listed = (label: string): string[] => (new RegExp(`^${label}: (.*)$`, 'm').exec(netOut)?.[1] ?? '').trim().split(/\s+/).filter(Boolean).sort();
    const bootModules = img.manifest.modules.map((m) => m.replace(/\.ko$/, '')).sort();
    t.same(listed('before'), bootModules, 'with containers running, the guest has loaded exactly the modules init loads at boot');
    for (const ok of ['ip-link-bridge', 'brctl-addbr', 'ip-link-veth', 'iptables-filter', 'iptables-nat']) t.match(netOut, new RegExp(`^${ok}: ok$`, 'm'), `${ok} works in the container`);
    t.match(netOut, /^-A INPUT -p tcp -m tcp --dport 9 -m conntrack --ctstate NEW -j DROP$/m, 'the filter rule is in place');
    t.match(netOut, /^-A POSTROUTING -m addrtype ! --dst-type LOCAL -j MASQUERADE$/m, 'the NAT rule is in place');
    const added = listed('after').filter((m) => !bootModules.includes(m));
    for (const m of ['bridge', 'veth', 'nf_tables', 'nf_conntrack', 'nf_nat']) t.ok(added.includes(m), `${m} was loaded on demand`);
    const onDemand = new Set(img.manifest.modules_on_demand);
    t.same(
      added.filter((m) => !onDemand.has(m)),
      [],
      'every module loaded on demand is one the manifest lists',
    );
    t.equal(nw.exit_code, 0, 'the module check script exited 0');
    if (!t.passing()) t.comment(`module check output:\n${netOut}`);
    t.comment(`loaded on demand: ${added.join(' ')}`);
    await client.call('RemoveContainer', { container_id: 'net' }, { timeoutMs: 60_000 });

    // Port-forward: an HTTP server in a container, reached through the agent.
    const web = { ...spec, process: { ...spec.process, args: ['/bin/httpd', '-f', '-p', '127.0.0.1:8080', '-h', '/www'] } };
    await client.call('CreateContainer', { container_id: 'web', oci_spec_json: Buffer.from(JSON.stringify(web)), rootfs_path: 'c1/rootfs' });
    await client.call('StartContainer', { container_id: 'web' }, { timeoutMs: 60_000 });
    let page = '';
    for (let i = 0; i < 20 && !page.includes('served-from-the-guest'); i++) {
      page = '';
      try {
        const pf = await client.portForward(8080, { timeoutMs: 30_000 });
        pf.send(Buffer.from('GET /index.html HTTP/1.0\r\n\r\n'));
        for await (const b of pf) page += b.toString();
      } catch {
        await new Promise((r) => setTimeout(r, 500)); // httpd not listening yet
      }
    }
    t.match(page, /^HTTP\/1\.[01] 200 .*served-from-the-guest/s, 'HTTP through PortForward to a guest port');
    await client.call('RemoveContainer', { container_id: 'web', force: true }, { timeoutMs: 60_000 });

    // Terminals: runc gives the container a pty of its own and relays it to the agent's.
    // Output lines end in \r\n, as on any terminal (the pty's ONLCR).
    const ttyScript = 'tty; stty size; read line; echo "line=$line"; stty size; cat; echo cat-ended; exec sleep 600';
    const tty = { ...spec, process: { ...spec.process, terminal: true, consoleSize: { height: 24, width: 80 }, args: ['/bin/sh', '-c', ttyScript] } };
    await client.call('CreateContainer', { container_id: 'tty', oci_spec_json: Buffer.from(JSON.stringify(tty)), rootfs_path: 'c1/rootfs', stdin: true });
    await client.call('StartContainer', { container_id: 'tty' }, { timeoutMs: 60_000 });
    let ttyOut = '';
    const ttyUntil = async (what: RegExp): Promise<boolean> => {
      for (let i = 0; i < 30 && !what.test(ttyOut); i++) {
        const r = await client.readStdout({ container_id: 'tty', wait_ms: 1000 });
        ttyOut += Buffer.from(r.data).toString();
        if (r.eof) break;
      }
      return what.test(ttyOut);
    };
    t.ok(await ttyUntil(/24 80\r?\n/), `the container's stdio is a pty of the consoleSize it asked for (${JSON.stringify(ttyOut)})`);
    t.match(ttyOut, /^\/dev\/pts\/\d+\r?\n/, "tty names the container's pty");
    await client.call('ResizeTty', { container_id: 'tty', rows: 40, cols: 120 });
    // runc applies the size on SIGWINCH, asynchronously: look at the container's console until it has.
    let size = '';
    for (let i = 0; i < 40 && size !== '40 120'; i++) {
      await client.call(
        'ExecProcess',
        {
          container_id: 'tty',
          exec_id: `size${i}`,
          process_json: Buffer.from(JSON.stringify({ args: ['/bin/stty', '-F', '/dev/console', 'size'], env: ['PATH=/bin'], cwd: '/', user: { uid: 0, gid: 0 } })),
        },
        { timeoutMs: 60_000 },
      );
      await client.waitProcess({ container_id: 'tty', exec_id: `size${i}`, wait_ms: 30_000 });
      size = Buffer.from((await client.readStdout({ container_id: 'tty', exec_id: `size${i}`, wait_ms: 1000 })).data)
        .toString()
        .trim();
    }
    t.equal(size, '40 120', "ResizeTty reached the container's pty");
    await client.call('WriteStdin', { container_id: 'tty', data: Buffer.from('hello\n') });
    t.ok(await ttyUntil(/line=hello\r?\n40 120\r?\n/), 'stdin typed into the terminal, and the process sees the new size');
    await client.call('CloseStdin', { container_id: 'tty' });
    t.ok(await ttyUntil(/cat-ended/), 'CloseStdin is end-of-file for a reader on the terminal');
    const ttyErr = await client.readStderr({ container_id: 'tty', wait_ms: 1000 });
    t.same([ttyErr.data.length, ttyErr.eof], [0, true], 'stderr of a terminal process: empty, at eof');

    await client.call(
      'ExecProcess',
      {
        container_id: 'tty',
        exec_id: 'ttyexec',
        process_json: Buffer.from(
          JSON.stringify({ terminal: true, consoleSize: { height: 30, width: 100 }, args: ['/bin/sh', '-c', 'tty; stty size; exit 5'], env: ['PATH=/bin'], cwd: '/', user: { uid: 0, gid: 0 } }),
        ),
      },
      { timeoutMs: 60_000 },
    );
    const tw = await client.waitProcess({ container_id: 'tty', exec_id: 'ttyexec', wait_ms: 30_000 });
    t.same([tw.exited, tw.exit_code], [true, 5], 'exec on a terminal: exit code reported');
    const execOut = await stdoutOf('tty', 'ttyexec');
    t.match(execOut, /^\/dev\/pts\/\d+\r?\n30 100\r?\n$/, 'exec on a pty of its own, of the size it asked for');
    await client.call('RemoveContainer', { container_id: 'tty', force: true }, { timeoutMs: 60_000 });

    // OOM: a container under a 16 MiB limit whose shell doubles a string until the guest kernel kills it.
    const hog = {
      ...spec,
      process: { ...spec.process, args: ['/bin/sh', '-c', 'a=a; while true; do a=$a$a; done'] },
      linux: { ...spec.linux, resources: { ...(spec.linux.resources ?? {}), memory: { limit: 16 * 1024 * 1024 } } },
    };
    await client.call('CreateContainer', { container_id: 'hog', oci_spec_json: Buffer.from(JSON.stringify(hog)), rootfs_path: 'c1/rootfs' });
    await client.call('StartContainer', { container_id: 'hog' }, { timeoutMs: 60_000 });
    const hw = await client.waitProcess({ container_id: 'hog', wait_ms: 60_000 });
    t.same([hw.exited, hw.exit_code, hw.oom_killed], [true, 137, true], 'OOM kill reported as exit 137 with oom_killed');
    const oom = await client.getOOMEvent({ wait_ms: 5000 });
    t.equal(oom.container_id, 'hog', 'GetOOMEvent names the container');
    await client.call('RemoveContainer', { container_id: 'hog' });

    await client.call('DestroySandbox', {});
    const run = await vm.done;
    t.notOk(run.timedOut, 'QEMU exited after DestroySandbox');
    t.equal(run.exitCode, 0, 'QEMU exit status 0 (guest powered off)');
    if (!t.passing()) t.comment(`guest console:\n${run.lines.map((l) => l.text).join('\n')}`);
  });
}
