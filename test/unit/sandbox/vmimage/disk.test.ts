import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { InvalidArgumentError } from '../../../../common/errors';
import { findContainerDisk } from '../../../../src/sandbox/vmimage/disk';

function rootfs(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'vmimage-disk-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

t.test('a qcow2 made by qemu-img is found with its format and virtual size', async (t) => {
  const root = rootfs(t);
  mkdirSync(join(root, 'disk'));
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', join(root, 'disk', 'debian.qcow2'), '1G']);
  const d = await findContainerDisk(root, 'registry/debian:12');
  t.equal(d.format, 'qcow2');
  t.equal(d.virtualSize, 2 ** 30);
  t.equal(d.name, 'debian.qcow2');
  t.equal(d.path, join(root, 'disk', 'debian.qcow2'));
});

t.test('a raw disk is found', async (t) => {
  const root = rootfs(t);
  mkdirSync(join(root, 'disk'));
  writeFileSync(join(root, 'disk', 'disk.img'), Buffer.alloc(4096));
  const d = await findContainerDisk(root, 'img');
  t.same({ format: d.format, virtualSize: d.virtualSize, fileSize: d.fileSize }, { format: 'raw', virtualSize: 4096, fileSize: 4096 });
});

t.test('what is not a containerDisk is refused, naming the image and what was found', async (t) => {
  const cases: { desc: string; make: (root: string) => void; want: RegExp }[] = [
    { desc: 'no /disk', make: () => undefined, want: /has no \/disk/ },
    { desc: '/disk is a file', make: (r) => writeFileSync(join(r, 'disk'), 'x'), want: /\/disk is a regular file/ },
    { desc: '/disk is a symlink', make: (r) => (mkdirSync(join(r, 'elsewhere')), symlinkSync('elsewhere', join(r, 'disk'))), want: /\/disk is a symlink/ },
    { desc: 'empty /disk', make: (r) => mkdirSync(join(r, 'disk')), want: /is empty/ },
    {
      desc: 'two files',
      make: (r) => {
        mkdirSync(join(r, 'disk'));
        writeFileSync(join(r, 'disk', 'a.img'), Buffer.alloc(512));
        writeFileSync(join(r, 'disk', 'b.img'), Buffer.alloc(512));
      },
      want: /holds 2 entries \(a\.img, b\.img\)/,
    },
    {
      desc: 'the disk is a symlink to a host file',
      make: (r) => (mkdirSync(join(r, 'disk')), symlinkSync('/etc/passwd', join(r, 'disk', 'd.img'))),
      want: /\/disk\/d\.img is a symlink/,
    },
    { desc: 'the disk is a directory', make: (r) => mkdirSync(join(r, 'disk', 'd.img'), { recursive: true }), want: /is a directory/ },
    {
      desc: 'the disk is a FIFO',
      make: (r) => (mkdirSync(join(r, 'disk')), execFileSync('mkfifo', [join(r, 'disk', 'd.img')])),
      want: /is a device, FIFO or socket/,
    },
    {
      desc: 'a broken raw disk',
      make: (r) => (mkdirSync(join(r, 'disk')), writeFileSync(join(r, 'disk', 'd.img'), Buffer.alloc(1000))),
      want: /disk \/disk\/d\.img: a raw disk must be a whole number/,
    },
  ];
  for (const c of cases) {
    const root = rootfs(t);
    c.make(root);
    const err = await findContainerDisk(root, 'example.com/vm:1').catch((e: unknown) => e);
    t.type(err, InvalidArgumentError, `${c.desc}: INVALID_ARGUMENT`);
    t.match((err as Error).message, /example\.com\/vm:1/, `${c.desc}: names the image`);
    t.match((err as Error).message, c.want, `${c.desc}: says what was found`);
  }
});
