// A VM-image VM against real QEMU under TCG, jailed as an unprivileged uid:
// its disks are a qcow2 overlay over a base file only root can read (mode
// 0400, in a 0700 dir, absent from the jail), over a raw base and over a
// qcow2 base whose header names a backing file, so QEMU can only have them
// as the fds the daemon passed. The base's boot sector (a few instructions,
// below) prints a marker on the serial port, writes itself to sector 1
// through the BIOS (so into the overlay) and powers the guest off over ACPI:
// the marker on the console socket shows SeaBIOS booted the base through the
// overlay, the sector in the overlay that the rw fd works, the VmExit that
// a guest power-off ends QEMU with 'guest-shutdown'. The second VM is
// reattached from its launch record before it runs.

import t from 'tap';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, openSync, readdirSync, readFileSync, readlinkSync, closeSync, readSync, statSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { QemuHypervisor } from '../../src/hypervisor/qemu';
import type { VmHandle } from '../../src/hypervisor/hypervisor';
import { RUN_FILES, type VmConfig } from '../../src/hypervisor/vm-config';
import { QEMU, qemuWorkspace, requireQemuComponents } from './qemu-fixtures';

requireQemuComponents(t);
const { work, vms: started } = qemuWorkspace(t, 'vmpod-qemu-disk-');
const hv = new QemuHypervisor({ qemuBinary: QEMU, qmpTimeoutMs: 20_000 });
/** Outside the daemon's default QEMU uid range, so no pod of a running daemon has it. */
const JAIL = { uid: 1_899_999_001, gid: 1_899_999_001 };

/**
 * The boot sector's code (GNU as, .code16), loaded at 0x7c00, message at 0x7c80:
 *   cld; xor ax,ax; mov ds,ax; mov es,ax; push dx          ; DL: the boot drive
 *   mov si,0x7c80; mov dx,0x3f8
 *   1: lodsb; test al,al; jz 2f; out dx,al; jmp 1b         ; the message to COM1
 *   2: pop dx; mov bx,0x7c00; mov ax,0x0301; mov cx,2; xor dh,dh
 *   int 0x13                                               ; write this sector to CHS 0/0/2 (LBA 1)
 *   mov dx,0x604; mov ax,0x2000; out dx,ax                 ; PM1a_CNT: SLP_EN, S5 (QEMU pc/q35)
 *   3: hlt; jmp 3b
 */
const CODE = Buffer.from('fc31c08ed88ec052be807cbaf803ac84c07403eeebf85abb007cb80103b9020030f6cd13ba0406b80020eff4ebfd', 'hex');

function bootSector(message: string): Buffer {
  const s = Buffer.alloc(512);
  CODE.copy(s, 0);
  s.write(`${message}\r\n\0`, 0x80, 'latin1');
  s[510] = 0x55;
  s[511] = 0xaa;
  return s;
}

function qemuImg(...args: string[]): void {
  execFileSync('qemu-img', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Bytes [offset, offset+len) of a disk image as the guest sees it (root follows the overlay's recorded base). */
function guestBytes(image: string, offset: number, len: number): Buffer {
  const raw = join(work, 'read.raw');
  qemuImg('convert', '-O', 'raw', image, raw);
  const fd = openSync(raw, 'r');
  try {
    const b = Buffer.alloc(len);
    readSync(fd, b, 0, len, offset);
    return b;
  } finally {
    closeSync(fd);
  }
}

/** The fds of `pid` that point at `path`, with their access mode (0 read-only, 2 read-write). */
function fdsOn(pid: number, path: string): Array<{ fd: number; mode: number }> {
  const out: Array<{ fd: number; mode: number }> = [];
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`) !== path) continue;
      const flags = /flags:\s+([0-7]+)/.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'))?.[1] ?? '0';
      out.push({ fd: Number(fd), mode: parseInt(flags, 8) & 3 });
    } catch {
      // closed meanwhile
    }
  }
  return out;
}

/** Everything read from the console socket, and a wait for a pattern in it. */
function consoleReader(path: string): { text: () => string; waitFor: (re: RegExp, ms: number) => Promise<boolean>; sock: Socket } {
  let text = '';
  const sock = connect(path);
  sock.on('data', (d: Buffer) => (text += d.toString('latin1')));
  sock.on('error', () => undefined);
  return {
    sock,
    text: () => text,
    // SeaBIOS's own console output (its serial console emulates a screen and flushes it later) can
    // land inside the boot sector's direct UART writes ("vmpod-disk-raw-ba.\r\nse"): matched without it.
    waitFor: async (re, ms) => {
      const seen = (): boolean => re.test(text) || re.test(text.replace(/[.\r\n]/g, ''));
      const deadline = Date.now() + ms;
      while (!seen() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      return seen();
    },
  };
}

// The images: two bases only root can read, each with its own marker.
const images = join(work, 'images');
execFileSync('mkdir', ['-m', '0700', images]);
const rawBase = join(images, 'base.raw');
writeFileSync(rawBase, bootSector('vmpod-disk-raw-base'));
qemuImg('resize', '-q', '-f', 'raw', rawBase, '8M');
const qcowSrc = join(work, 'qcow-src.raw');
writeFileSync(qcowSrc, bootSector('vmpod-disk-qcow2-base'));
qemuImg('resize', '-q', '-f', 'raw', qcowSrc, '8M');
const qcowBase = join(images, 'base.qcow2');
qemuImg('convert', '-f', 'raw', '-O', 'qcow2', qcowSrc, qcowBase);
// A backing name an image author planted: QEMU would fail to start if it tried to open it (not in its jail).
qemuImg('rebase', '-u', '-F', 'raw', '-b', '/etc/shadow', qcowBase);
for (const b of [rawBase, qcowBase]) chmodSync(b, 0o400);

function diskVm(name: string, base: string, format: 'raw' | 'qcow2'): VmConfig {
  const runDir = join(work, name);
  const overlay = join(images, `${name}-overlay.qcow2`);
  qemuImg('create', '-q', '-f', 'qcow2', '-F', format, '-b', base, '-u', overlay, '8M');
  return {
    id: name,
    runDir,
    accel: 'tcg',
    vcpus: 1,
    memoryMib: 128,
    firmware: 'seabios',
    disks: [{ id: 'root', path: overlay, format: 'qcow2', readOnly: false, backing: { path: base, format }, bootIndex: 0 }],
    console: { kind: 'socket', socketPath: join(runDir, RUN_FILES.consoleSocket) },
    guestAgentSocket: join(runDir, RUN_FILES.guestAgentSocket),
    jail: JAIL,
  };
}

async function prepare(c: VmConfig): Promise<VmHandle> {
  const vm = await hv.prepare(c);
  started.push(vm);
  return vm;
}

t.test('jailed QEMU boots an overlay over a raw base it can reach only through fds; the guest power-off ends it', async (t) => {
  const cfg = diskVm('raw', rawBase, 'raw');
  // Two CRI-mount-like shares (read-only and writable): the jail must bind both for QEMU to start.
  const shareRo = join(work, 'share-ro');
  const shareRw = join(work, 'share-rw');
  execFileSync('mkdir', [shareRo, shareRw]);
  cfg.shares = [
    { tag: 'vmpod:m0', path: shareRo, readOnly: true },
    { tag: 'vmpod:m1', path: shareRw, readOnly: false },
  ];
  const overlay = cfg.disks?.[0].path as string;
  const vm = await prepare(cfg);
  t.ok(existsSync(`/proc/${vm.pid}/root${shareRo}`) && existsSync(`/proc/${vm.pid}/root${shareRw}`), 'the shares are in the jail');
  t.match(readFileSync(`/proc/${vm.pid}/status`, 'utf8'), new RegExp(`\\nUid:\\s+${JAIL.uid}\\s`), 'QEMU runs as the jail uid');
  t.notOk(existsSync(`/proc/${vm.pid}/root${rawBase}`), 'the base image does not exist in QEMU’s jail');
  const base = fdsOn(vm.pid, rawBase);
  t.same(
    base.map((f) => f.mode),
    [0, 0],
    `the base: QEMU's fdset copy and its open of it, read-only (${JSON.stringify(base)})`,
  );
  t.same(
    fdsOn(vm.pid, overlay).map((f) => f.mode),
    [2, 2],
    'the overlay: the same two, read-write',
  );
  t.notOk(
    [...base, ...fdsOn(vm.pid, overlay)].some((f) => f.fd === 3 || f.fd === 4),
    'the inherited fds 3 and 4 themselves were closed by QEMU once in its fdsets',
  );
  t.ok(statSync(cfg.guestAgentSocket as string).isSocket(), 'the guest-agent socket listens');
  t.equal(vm.consoleSocket, cfg.console?.socketPath);

  const console = consoleReader(cfg.console?.socketPath as string);
  t.teardown(() => console.sock.destroy());
  await vm.start();
  t.ok(await console.waitFor(/vmpod-disk-raw-base/, 60_000), `SeaBIOS booted the base through the overlay: ${JSON.stringify(console.text().slice(-300))}`);
  const exit = await Promise.race([vm.wait(), new Promise<undefined>((r) => setTimeout(() => r(undefined), 30_000))]);
  t.equal(exit?.reason, 'guest-shutdown', 'the guest’s ACPI power-off ended QEMU');
  t.equal(exit?.exitCode, 0);
  t.equal(vm.consoleTail(), '', 'no tail kept for a socket console');
  t.same(guestBytes(overlay, 512, 512), bootSector('vmpod-disk-raw-base'), 'the guest’s write landed in the overlay');
  const fd = openSync(rawBase, 'r');
  const b = Buffer.alloc(512);
  readSync(fd, b, 0, 512, 512);
  closeSync(fd);
  t.ok(b.equals(Buffer.alloc(512)), 'and not in the base');
  await hv.destroy(cfg.runDir);
  t.notOk(existsSync(cfg.runDir));
});

t.test('a qcow2 base with a planted backing name; the VM reattached from its launch record before it runs', async (t) => {
  const cfg = diskVm('qcow', qcowBase, 'qcow2');
  const first = await prepare(cfg);
  first.detach();
  const vm = await hv.reconnect(cfg.runDir);
  t.ok(vm, 'reconnected');
  if (!vm) return;
  started.push(vm);
  t.equal(vm.consoleSocket, cfg.console?.socketPath, 'console socket from the launch record');
  t.equal(vm.guestAgentSocket, cfg.guestAgentSocket, 'guest-agent socket from the launch record');
  t.equal(vm.agentSocket, undefined, 'no vmpod agent');
  t.equal(await vm.status(), 'paused');
  const console = consoleReader(cfg.console?.socketPath as string);
  t.teardown(() => console.sock.destroy());
  await vm.start();
  t.ok(await console.waitFor(/vmpod-disk-qcow2-base/, 60_000), `booted the qcow2 base: ${JSON.stringify(console.text().slice(-300))}`);
  const exit = await Promise.race([vm.wait(), new Promise<undefined>((r) => setTimeout(() => r(undefined), 30_000))]);
  t.equal(exit?.reason, 'guest-shutdown', 'seen by a handle that is not QEMU’s parent too');
  await hv.destroy(cfg.runDir);
});

const noLoop = existsSync('/dev/loop-control') ? false : 'no loop devices on this host';

t.test('a block device (a block-mode volume) as the base, passed as an fd too: host_device', { skip: noLoop }, async (t) => {
  const backing = join(images, 'loop-backing.raw');
  execFileSync('cp', [rawBase, backing]);
  const loop = execFileSync('losetup', ['--find', '--show', '--read-only', backing], { encoding: 'utf8' }).trim();
  t.teardown(() => execFileSync('losetup', ['--detach', loop]));
  const cfg = diskVm('loop', loop, 'raw');
  const vm = await prepare(cfg);
  t.same(
    fdsOn(vm.pid, loop).map((f) => f.mode),
    [0, 0],
    'the device: QEMU’s fdset copy and its open, read-only',
  );
  t.ok(readFileSync(`/proc/${vm.pid}/cmdline`, 'utf8').includes('"driver":"host_device"'), 'read through host_device');
  const console = consoleReader(cfg.console?.socketPath as string);
  t.teardown(() => console.sock.destroy());
  await vm.start();
  t.ok(await console.waitFor(/vmpod-disk-raw-base/, 60_000), `booted the device: ${JSON.stringify(console.text().slice(-300))}`);
  const exit = await Promise.race([vm.wait(), new Promise<undefined>((r) => setTimeout(() => r(undefined), 30_000))]);
  t.equal(exit?.reason, 'guest-shutdown');
  t.notMatch(readFileSync(join(cfg.runDir, 'qemu.stderr'), 'utf8'), /deprecated/, 'no deprecation warning from QEMU');
  await hv.destroy(cfg.runDir);
});

t.test('stop on a guest that ignores the power button: quit after the grace', async (t) => {
  // SeaBIOS with nothing bootable loops in the firmware, which has no ACPI power button handler.
  const runDir = join(work, 'empty');
  const blank = join(images, 'blank.raw');
  qemuImg('create', '-q', '-f', 'raw', blank, '1M');
  const cfg: VmConfig = {
    id: 'empty',
    runDir,
    accel: 'tcg',
    vcpus: 1,
    memoryMib: 128,
    firmware: 'seabios',
    disks: [{ id: 'blank', path: blank, format: 'raw', readOnly: true, bootIndex: 0 }],
    console: { kind: 'socket', socketPath: join(runDir, RUN_FILES.consoleSocket) },
    jail: JAIL,
  };
  const vm = await prepare(cfg);
  const console = consoleReader(cfg.console?.socketPath as string);
  t.teardown(() => console.sock.destroy());
  await vm.start();
  t.ok(await console.waitFor(/No bootable device/, 60_000), `SeaBIOS reports it on the serial console: ${JSON.stringify(console.text().slice(-200))}`);
  const t0 = Date.now();
  const exit = await vm.stop({ gracefulTimeoutMs: 1000, quitTimeoutMs: 5000 });
  t.equal(exit.reason, 'host-quit');
  t.ok(Date.now() - t0 >= 900, 'the guest had its grace first');
  await hv.destroy(runDir);
});
