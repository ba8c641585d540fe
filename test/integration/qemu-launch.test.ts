// The QEMU layer against real QEMU under TCG: launch detached (own session,
// inside a network namespace, with every device the builder emits except
// vhost-vsock, which this host lacks), QMP handshake and query-status,
// reconnect by a fresh client from the persisted launch record, the stop
// escalation (powerdown → quit → SIGKILL) and kill -9 detection. VMs are
// started paused without a kernel, so they cost no CPU; if the guest image
// is built, one VM boots it from the production command line.

import t from 'tap';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { QemuHypervisor } from '../../src/hypervisor/qemu';
import { readLaunchRecord } from '../../src/hypervisor/qemu/launch';
import { processStartTime } from '../../src/hypervisor/qemu/proc';
import type { VmEvent, VmHandle } from '../../src/hypervisor/hypervisor';
import type { VmConfig } from '../../src/hypervisor/vm-config';
import { findGuestImage, guestPartPath } from '../../src/host/guest-image';
import { FailedPreconditionError, InternalError } from '../../common/errors';
import { QEMU, qemuWorkspace, requireQemuComponents } from './qemu-fixtures';

requireQemuComponents(t);
const { work, netns, vms: started } = qemuWorkspace(t, 'vmpod-qemu-it-');

const hv = new QemuHypervisor({ qemuBinary: QEMU, qmpTimeoutMs: 20_000 });

/** Whether `pid` has `path` open with O_APPEND (octal 02000 in fdinfo flags). */
/** Whether any fd of `pid` points at `path`. */
function holdsFile(pid: number, path: string): boolean {
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`) === path) return true;
    } catch {
      // closed meanwhile
    }
  }
  return false;
}

function pausedConfig(name: string, over: Partial<VmConfig> = {}): VmConfig {
  const runDir = join(work, name);
  return { id: name, runDir, accel: 'tcg', vcpus: 1, memoryMib: 128, paused: true, agent: { transport: 'serial', socketPath: join(runDir, 'agent.sock') }, ...over };
}

async function start(c: VmConfig): Promise<VmHandle> {
  const vm = await hv.start(c);
  started.push(vm);
  return vm;
}

t.test('paused VM with every device in a netns: QMP, persistence, reconnect, graceful stop', async (t) => {
  execFileSync('ip', ['netns', 'add', netns]);
  execFileSync('ip', ['-n', netns, 'tuntap', 'add', 'dev', 'tap0', 'mode', 'tap']);
  const shared = join(work, 'shared');
  execFileSync('mkdir', ['-p', shared]);
  const rootfs = join(work, 'rootfs.img');
  writeFileSync(rootfs, '');
  truncateSync(rootfs, 4 * 1024 * 1024);

  const cfg = pausedConfig('a', {
    netnsPath: `/run/netns/${netns}`,
    rootfs: { path: rootfs, sizeBytes: 4 * 1024 * 1024 },
    sharedDir: shared,
    network: { ifname: 'tap0', mac: '02:00:00:00:00:0a' },
  });
  const vm = await start(cfg);

  t.equal(await vm.status(), 'paused', 'query-status: paused (-S)');
  const cost = vm.hostStats();
  t.ok(cost && cost.rssBytes > 0 && cost.pssBytes > 0, `host cost of the VM readable (${JSON.stringify(cost)})`);
  t.equal(readlinkSync(`/proc/${vm.pid}/ns/net`), `net:[${statSync(cfg.netnsPath as string).ino}]`, 'QEMU runs in the pod netns');
  const stat = readFileSync(`/proc/${vm.pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  t.equal(Number(fields[3]), vm.pid, 'QEMU leads its own session (setsid), so it outlives the daemon');
  t.equal(Number(readFileSync(join(cfg.runDir, 'qemu.pid'), 'utf8').trim()), vm.pid, 'pidfile names QEMU itself, not nsenter');
  t.ok(statSync(join(cfg.runDir, 'agent.sock')).isSocket(), 'agent serial socket listening');
  t.ok(readFileSync(`/proc/${vm.pid}/cmdline`, 'utf8').split('\0').includes('ringbuf,id=console,size=1048576'), 'the console is a ring QEMU holds, bounded whether or not a daemon drains it');
  t.notOk(holdsFile(vm.pid, vm.consoleLog), 'QEMU has no fd on the console log: only the daemon writes it');

  const rec = readLaunchRecord(cfg.runDir);
  t.match(rec, { pid: vm.pid, qmpSocket: join(cfg.runDir, 'qmp.sock'), agentSocket: join(cfg.runDir, 'agent.sock'), consoleLog: join(cfg.runDir, 'console.log'), startTime: processStartTime(vm.pid) });

  // A restarted daemon: the old handle lets go, a fresh one reconnects.
  vm.detach();
  const again = await hv.reconnect(cfg.runDir);
  t.ok(again, 'reconnected from the launch record');
  if (!again) return;
  t.equal(again.pid, vm.pid);
  t.equal(await again.status(), 'paused', 'fresh QMP client works');

  const events: VmEvent[] = [];
  again.onEvent((e) => events.push(e));
  // A paused guest ignores the power button, so this walks to `quit`.
  const exit = await again.stop({ gracefulTimeoutMs: 1000, quitTimeoutMs: 5000 });
  t.equal(exit.reason, 'host-quit');
  t.ok(
    events.some((e) => e.type === 'shutdown' && !e.guestInitiated),
    `SHUTDOWN event seen (${JSON.stringify(events)})`,
  );
  t.equal(processStartTime(vm.pid), undefined, 'process gone');
  t.equal(await again.status(), 'exited');
  t.same(await again.stop(), exit, 'stop after exit is idempotent');

  await hv.destroy(cfg.runDir);
  t.notOk(existsSync(cfg.runDir), 'destroy removes the run dir');
  t.equal(await hv.reconnect(cfg.runDir), undefined, 'nothing to reconnect to after destroy');
});

t.test('a wedged QEMU (SIGSTOP) is killed by the stop escalation', async (t) => {
  const cfg = pausedConfig('b');
  const vm = await start(cfg);
  process.kill(vm.pid, 'SIGSTOP');
  const exit = await vm.stop({ gracefulTimeoutMs: 500, quitTimeoutMs: 500 });
  t.equal(exit.reason, 'killed');
  t.equal(exit.signal, 'SIGKILL');
  t.equal(processStartTime(vm.pid), undefined, 'process gone');
  await hv.destroy(cfg.runDir);
});

t.test('kill -9 of QEMU is seen as an exit by the spawning handle', async (t) => {
  const cfg = pausedConfig('c');
  const vm = await start(cfg);
  process.kill(vm.pid, 'SIGKILL');
  const exit = await vm.wait();
  t.equal(exit.reason, 'killed');
  t.equal(exit.signal, 'SIGKILL');
  t.equal(await vm.status(), 'exited');
  await hv.destroy(cfg.runDir);
});

t.test('kill -9 of QEMU is seen as an exit by a handle of a restarted daemon', async (t) => {
  const cfg = pausedConfig('e');
  const vm = await start(cfg);
  vm.detach();
  const other = await hv.reconnect(cfg.runDir);
  t.ok(other, 'reconnected');
  if (!other) return;
  process.kill(vm.pid, 'SIGKILL');
  const exit = await other.wait();
  t.equal(exit.reason, 'unknown', 'not our child: the cause cannot be known, only the exit');
  t.equal(processStartTime(vm.pid), undefined, 'process gone');
  await hv.destroy(cfg.runDir);
});

t.test('destroy finds a QEMU whose launch record was never written (daemon killed mid-start) by its pidfile', async (t) => {
  const cfg = pausedConfig('f');
  const vm = await start(cfg);
  rmSync(join(cfg.runDir, 'vm.json'));
  await hv.destroy(cfg.runDir);
  const exit = await vm.wait();
  t.equal(exit.signal, 'SIGKILL', 'killed through the pidfile');
  t.notOk(existsSync(cfg.runDir), 'run dir removed');
});

t.test('start failures are typed and explain themselves', async (t) => {
  const missing = pausedConfig('d', { rootfs: { path: join(work, 'no-such.img'), sizeBytes: 2 * 1024 * 1024 } });
  const e1 = await hv.start(missing).catch((e: unknown) => e);
  t.ok(e1 instanceof FailedPreconditionError, 'missing rootfs refused before QEMU runs');
  t.match((e1 as Error).message, /qemu-start: rootfs image .*no-such\.img/);
  t.notOk(existsSync(join(work, 'no-such.img')), 'and QEMU did not create it');

  // Bypass the launcher's size check to see QEMU's own refusal reach the error.
  const img = join(work, 'd.img');
  writeFileSync(img, '');
  truncateSync(img, 4 * 1024 * 1024);
  const cfg = pausedConfig('d', { rootfs: { path: img, sizeBytes: 4 * 1024 * 1024 }, memoryMib: 128 });
  const bad = new QemuHypervisor({ qemuBinary: QEMU, qemuOptions: { x86: { machine: 'pc', firmware: 'qboot', firmwareDir: join(work, 'no-firmware') } } });
  const e2 = await bad.start(cfg).catch((e: unknown) => e);
  t.ok(e2 instanceof InternalError, 'QEMU exiting at start is InternalError');
  t.match((e2 as Error).message, /qemu-start: QEMU for d exited .*qboot\.rom/, "with QEMU's stderr");
  await hv.destroy(cfg.runDir);
});

const found = findGuestImage(process.env.VMPOD_GUEST_DIR);
if ('missing' in found) {
  t.comment(`guest image not built (${found.missing}): the boot case needs it`);
  t.fail(`guest boot through the production cmdline cannot run: ${found.missing}`);
} else {
  t.test('the built guest boots from the production command line and powers off', async (t) => {
    const img = found;
    const runDir = join(work, 'g');
    const shared = join(work, 'g-shared');
    execFileSync('mkdir', ['-p', shared]);
    const cfg: VmConfig = {
      id: 'g',
      runDir,
      accel: 'tcg',
      vcpus: 1,
      memoryMib: 512,
      boot: {
        kernel: guestPartPath(img, 'vmlinux'),
        initrd: guestPartPath(img, 'initramfs'),
        params: [...img.manifest.kernel.cmdline.split(/\s+/).filter(Boolean), 'vmpod.selftest=boot'],
      },
      rootfs: { path: guestPartPath(img, 'rootfs'), sizeBytes: img.manifest.parts.rootfs.size },
      sharedDir: shared,
      agent: { transport: 'serial', socketPath: join(runDir, 'agent.sock') },
    };
    const vm = await start(cfg);
    const events: VmEvent[] = [];
    vm.onEvent((e) => events.push(e));
    const limit = setTimeout(() => {
      vm.stop({ gracefulTimeoutMs: 0, quitTimeoutMs: 2000 }).catch((err: unknown) => t.fail(`stopping the VM at its time limit failed: ${(err as Error).message}`));
    }, 150_000);
    const exit = await vm.wait();
    clearTimeout(limit);
    const console = readFileSync(vm.consoleLog, 'latin1');
    t.match(console, /Linux version 6\.\d+/, 'kernel banner in the console log');
    t.match(console, /selftest ok/, 'the guest reached Node.js');
    t.equal(exit.reason, 'guest-shutdown', `guest powered itself off (events ${JSON.stringify(events)}, console tail: ${vm.consoleTail(500)})`);
    await hv.destroy(runDir);
  });

  /** A small VM (no rootfs) booted until it ends by itself, or is stopped after 2 minutes. */
  const runUntilExit = async (id: string, boot: VmConfig['boot']) => {
    const runDir = join(work, id);
    const vm = await start({ id, runDir, accel: 'tcg', vcpus: 1, memoryMib: 256, boot, agent: { transport: 'serial', socketPath: join(runDir, 'agent.sock') } });
    const events: VmEvent[] = [];
    vm.onEvent((e) => events.push(e));
    const limit = setTimeout(() => {
      vm.stop({ gracefulTimeoutMs: 0, quitTimeoutMs: 2000 }).catch((err: unknown) => t.fail(`stopping the VM at its time limit failed: ${(err as Error).message}`));
    }, 120_000);
    const exit = await vm.wait();
    clearTimeout(limit);
    return { vm, exit, events, runDir };
  };

  t.test('a guest kernel panic ends the VM and is reported as such', async (t) => {
    // Kernel only: no initramfs and no root, so the kernel panics in early
    // boot; panic=1 + pvpanic/-no-reboot must turn that into QEMU exiting.
    const { vm, exit, events, runDir } = await runUntilExit('p', { kernel: guestPartPath(found, 'vmlinux'), params: ['root=/dev/vmpod-none'] });
    t.match(vm.consoleTail(4096), /Kernel panic - not syncing/, 'the guest panicked');
    t.ok(exit.reason === 'guest-panicked' || exit.reason === 'guest-reset', `exit reason ${exit.reason} (events ${JSON.stringify(events)})`);
    t.comment(`early panic seen as: ${exit.reason} (before the initramfs loads pvpanic-mmio it can only be a reset)`);
    await hv.destroy(runDir);
  });

  t.test('a guest kernel panic after boot reaches the host through pvpanic', async (t) => {
    // The initramfs crashes the kernel on purpose (vmpod.selftest=panic) once
    // its modules, pvpanic-mmio among them, are loaded.
    const { vm, exit, events, runDir } = await runUntilExit('pp', {
      kernel: guestPartPath(found, 'vmlinux'),
      initrd: guestPartPath(found, 'initramfs'),
      params: [...found.manifest.kernel.cmdline.split(/\s+/).filter(Boolean), 'vmpod.selftest=panic'],
    });
    t.match(vm.consoleTail(4096), /selftest: crashing the kernel on purpose[\s\S]*Kernel panic - not syncing/, 'the guest panicked after loading its modules');
    t.equal(exit.reason, 'guest-panicked', `reported as a panic, not a reset (events ${JSON.stringify(events)})`);
    t.ok(
      events.some((e) => e.type === 'guest-panicked'),
      'QEMU sent GUEST_PANICKED',
    );
    await hv.destroy(runDir);
  });
}
