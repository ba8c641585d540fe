// The daemon's side of a disk VM's launch without QEMU: each disk file is
// opened with the access mode its disk needs (QEMU's fdset only serves an
// open of the same mode), never through a symlink, only a regular file, and
// nothing stays open when one of them fails; OVMF missing is named with its
// package; the launch record of a socket-console VM.

import t from 'tap';
import { closeSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkInputsExist, openPassedFiles } from '../../../../src/hypervisor/qemu/launch';
import { DEFAULT_QEMU_OPTIONS } from '../../../../src/hypervisor/qemu/cmdline';
import type { VmConfig } from '../../../../src/hypervisor/vm-config';
import { FailedPreconditionError } from '../../../../common/errors';

function tmp(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-disk-files-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function vm(dir: string, over: Partial<VmConfig> = {}): VmConfig {
  return {
    id: 'p',
    runDir: join(dir, 'run'),
    accel: 'tcg',
    vcpus: 1,
    memoryMib: 128,
    firmware: 'seabios',
    disks: [
      { id: 'root', path: join(dir, 'overlay.qcow2'), format: 'qcow2', readOnly: false, backing: { path: join(dir, 'base.raw'), format: 'raw' }, bootIndex: 0 },
      { id: 'cidata', path: join(dir, 'cidata.iso'), format: 'raw', readOnly: true },
    ],
    ...over,
  };
}

/** The access mode of our fd `fd` from fdinfo: 0 read-only, 2 read-write. */
function accessMode(fd: number): number {
  const flags = /flags:\s+([0-7]+)/.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))?.[1];
  return parseInt(flags ?? 'x', 8) & 3;
}

t.test('opened in disk order, each with its disk’s access mode, close-on-exec in the daemon', async (t) => {
  const dir = tmp(t);
  for (const f of ['overlay.qcow2', 'base.raw', 'cidata.iso']) writeFileSync(join(dir, f), 'x');
  const { fds, blockDeviceSets } = openPassedFiles(vm(dir));
  t.teardown(() => fds.forEach((fd) => closeSync(fd)));
  t.same([...blockDeviceSets], [], 'no block device among them');
  t.equal(fds.length, 3);
  t.same(
    fds.map((fd) => accessMode(fd)),
    [2, 0, 0],
    'the overlay read-write, its base and the cidata read-only',
  );
  const cloexec = 0o2000000;
  t.ok(
    fds.every((fd) => (parseInt(/flags:\s+([0-7]+)/.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))?.[1] ?? '0', 8) & cloexec) !== 0),
    'O_CLOEXEC: no other child of the daemon inherits them',
  );
});

t.test('a symlink, a directory or a missing file is refused, and nothing stays open', async (t) => {
  const dir = tmp(t);
  writeFileSync(join(dir, 'overlay.qcow2'), 'x');
  writeFileSync(join(dir, 'real.raw'), 'x');
  writeFileSync(join(dir, 'cidata.iso'), 'x');
  symlinkSync(join(dir, 'real.raw'), join(dir, 'base.raw'));
  const fail = (c: VmConfig, re: RegExp, why: string): void => {
    let err: unknown;
    try {
      openPassedFiles(c);
    } catch (e) {
      err = e;
    }
    t.ok(err instanceof FailedPreconditionError && re.test((err as Error).message), `${why}: ${(err as Error | undefined)?.message ?? 'accepted'}`);
  };
  const before = new Set(readdirFds());
  fail(vm(dir), /disk root backing image .*base\.raw of VM p is a symlink/, 'a symlinked backing image');
  rmSync(join(dir, 'base.raw'));
  mkdirSync(join(dir, 'base.raw'));
  fail(vm(dir), /disk root backing image .*base\.raw of VM p is neither a regular file nor a block device/, 'a directory');
  rmSync(join(dir, 'base.raw'), { recursive: true });
  fail(vm(dir), /disk root backing image .*base\.raw of VM p does not exist/, 'a missing file');
  t.same(
    readdirFds().filter((fd) => !before.has(fd)),
    [],
    'the overlay opened before each failure was closed again',
  );
});

function readdirFds(): number[] {
  return readdirSync('/proc/self/fd').map(Number);
}

t.test('OVMF missing: FailedPrecondition naming the package', async (t) => {
  const dir = tmp(t);
  const opts = { ...DEFAULT_QEMU_OPTIONS, x86: { ...DEFAULT_QEMU_OPTIONS.x86, ovmfPath: join(dir, 'OVMF.fd') } };
  let err: unknown;
  try {
    checkInputsExist(vm(dir, { firmware: 'ovmf', disks: [] }), opts);
  } catch (e) {
    err = e;
  }
  t.ok(err instanceof FailedPreconditionError, 'FailedPreconditionError');
  t.match((err as Error).message, /OVMF.*does not exist.*package ovmf/);
  writeFileSync(join(dir, 'OVMF.fd'), 'x');
  t.doesNotThrow(() => checkInputsExist(vm(dir, { firmware: 'ovmf', disks: [] }), opts), 'present: fine');
  t.doesNotThrow(() => checkInputsExist(vm(dir, { disks: [] }), opts), 'SeaBIOS needs no OVMF');
});
