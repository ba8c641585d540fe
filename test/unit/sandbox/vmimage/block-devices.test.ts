import { mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { InvalidArgumentError } from '../../../../common/errors';
import { blockDisks, deviceSerial, MAX_SERIAL } from '../../../../src/sandbox/vmimage/block-devices';

t.test('serials: named after the path asked for, short, safe, unique', async (t) => {
  const none = new Set<string>();
  t.equal(deviceSerial('/dev/xvdb', none), 'xvdb');
  t.equal(deviceSerial('/dev/data_1', none), 'data_1');
  t.equal(deviceSerial('/mnt/blk.vol', none), 'mnt-blk-vol', 'other characters become -');
  const long = deviceSerial('/dev/a-very-long-volume-device-name', none);
  t.ok(long.length <= MAX_SERIAL, `at most 20 bytes (${long})`);
  t.match(long, /^[A-Za-z0-9_-]+$/);
  t.equal(long, deviceSerial('/dev/a-very-long-volume-device-name', none), 'stable');
  t.not(deviceSerial('/dev/a-very-long-volume-device-name-2', none), long, 'two long paths with one prefix differ');
  const taken = deviceSerial('/dev/root', new Set(['root']));
  t.not(taken, 'root', 'a reserved serial (the boot disk) is never reused');
  t.ok(taken.length <= MAX_SERIAL);
  t.match(deviceSerial('/dev/', none), /^d?-?[0-9a-f]{8}$|^[A-Za-z0-9_-]{1,20}$/, 'an empty name still gets a serial');
});

t.test('only host block devices are taken', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vmimage-dev-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'file'), '');
  const dev = (host_path: string, container_path: string, permissions = 'rw') => ({ host_path, container_path, permissions });
  t.throws(() => blockDisks([dev(join(dir, 'file'), '/dev/x')], [], 'vm'), /is not a block device/, 'a regular file');
  t.throws(() => blockDisks([dev('/dev/null', '/dev/x')], [], 'vm'), InvalidArgumentError, 'a character device');
  t.throws(() => blockDisks([dev(join(dir, 'none'), '/dev/x')], [], 'vm'), /ENOENT/, 'missing');
  t.throws(() => blockDisks([dev('', '/dev/x')], [], 'vm'), /needs host_path/, 'no host path');
  const loop = ['/dev/loop0', '/dev/loop1'].filter((p) => {
    try {
      return statSync(p).isBlockDevice();
    } catch {
      return false;
    }
  });
  if (loop.length < 1) {
    t.comment('no /dev/loop0 block device on this host: the accepted case is not checked');
    return;
  }
  const got = blockDisks([dev(loop[0], '/dev/xvdb', 'r'), dev(loop[0], '/dev/xvdb', 'rw')], ['root', 'cidata'], 'vm');
  t.same(
    got.map((d) => [d.serial.length <= 20, d.readOnly]),
    [
      [true, true],
      [true, false],
    ],
    'read-only without w; serials within 20 bytes',
  );
  t.equal(got[0].serial, 'xvdb');
  symlinkSync(loop[0], join(dir, 'by-id-link'));
  t.equal(blockDisks([dev(join(dir, 'by-id-link'), '/dev/xvdc')], [], 'vm')[0].hostPath, loop[0], 'a device named by a link is passed by its real path');
  t.not(got[1].serial, 'xvdb', 'a second device at the same path gets another serial');
});
