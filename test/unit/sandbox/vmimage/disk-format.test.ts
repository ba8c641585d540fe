import t from 'tap';
import { detectDiskFormat, MAX_VIRTUAL_SIZE, QCOW2_MAGIC } from '../../../../src/sandbox/vmimage/disk-format';

/** A qcow2 header as qemu-img writes it (version 3, 64 KiB clusters), with fields to spoil. */
function qcow2(
  o: { version?: number; backingOffset?: bigint; backingSize?: number; clusterBits?: number; size?: bigint; crypt?: number; incompat?: bigint; headerLength?: number; length?: number } = {},
): Buffer {
  const h = Buffer.alloc(o.length ?? 512);
  QCOW2_MAGIC.copy(h, 0);
  h.writeUInt32BE(o.version ?? 3, 4);
  h.writeBigUInt64BE(o.backingOffset ?? 0n, 8);
  h.writeUInt32BE(o.backingSize ?? 0, 16);
  h.writeUInt32BE(o.clusterBits ?? 16, 20);
  h.writeBigUInt64BE(o.size ?? 2n * 2n ** 30n, 24);
  h.writeUInt32BE(o.crypt ?? 0, 32);
  if (h.length >= 104) {
    h.writeBigUInt64BE(o.incompat ?? 0n, 72);
    h.writeUInt32BE(4, 96); // refcount_order: 16-bit refcounts
    h.writeUInt32BE(o.headerLength ?? 112, 100);
  }
  return h;
}

const FILE = 200 * 1024 * 1024;

t.test('good disks are recognised with their virtual size', async (t) => {
  t.same(detectDiskFormat(qcow2(), FILE), { format: 'qcow2', virtualSize: 2 * 2 ** 30, qcow2Version: 3 }, 'qcow2 v3');
  t.same(detectDiskFormat(qcow2({ version: 2, length: 72 }), FILE), { format: 'qcow2', virtualSize: 2 * 2 ** 30, qcow2Version: 2 }, 'qcow2 v2 (a 72-byte header)');
  t.same(detectDiskFormat(qcow2({ incompat: 1n }), FILE), { format: 'qcow2', virtualSize: 2 * 2 ** 30, qcow2Version: 3 }, 'dirty bit: fine for a read-only base');
  t.same(detectDiskFormat(qcow2({ incompat: 0b11000n }), FILE), { format: 'qcow2', virtualSize: 2 * 2 ** 30, qcow2Version: 3 }, 'compression type and extended L2 are known');
  const mbr = Buffer.alloc(512);
  mbr.writeUInt16BE(0x55aa, 510);
  t.same(detectDiskFormat(mbr, 1024 * 1024), { format: 'raw', virtualSize: 1024 * 1024 }, 'raw: any sector-multiple file');
});

t.test('hostile or unusable disks are refused, each with its reason', async (t) => {
  const cases: { desc: string; head: Buffer; size?: number; want: RegExp }[] = [
    { desc: 'empty file', head: Buffer.alloc(0), size: 0, want: /empty/ },
    { desc: 'raw not a sector multiple', head: Buffer.alloc(100), size: 1000, want: /512-byte sectors.*1000 bytes/ },
    { desc: 'raw beyond the size bound', head: Buffer.alloc(512), size: MAX_VIRTUAL_SIZE + 512, want: /more than/ },
    { desc: 'qcow2 truncated inside the header', head: qcow2({ length: 40 }), size: 40, want: /ends after 40 bytes/ },
    { desc: 'qcow2 version 4', head: qcow2({ version: 4 }), want: /version 4/ },
    { desc: 'qcow2 version 1', head: qcow2({ version: 1 }), want: /version 1/ },
    { desc: 'backing file offset set', head: qcow2({ backingOffset: 512n, backingSize: 10 }), want: /backing file/ },
    { desc: 'backing file size alone set', head: qcow2({ backingSize: 10 }), want: /backing file/ },
    { desc: 'cluster bits too small', head: qcow2({ clusterBits: 8 }), want: /cluster_bits 8/ },
    { desc: 'cluster bits too big', head: qcow2({ clusterBits: 30 }), want: /cluster_bits 30/ },
    { desc: 'virtual size 0', head: qcow2({ size: 0n }), want: /virtual size is 0/ },
    { desc: 'virtual size absurd', head: qcow2({ size: 2n ** 62n }), want: /more than/ },
    { desc: 'virtual size not a sector multiple', head: qcow2({ size: 1000n }), want: /sectors/ },
    { desc: 'encrypted (AES)', head: qcow2({ crypt: 1 }), want: /encrypted \(crypt_method 1\)/ },
    { desc: 'encrypted (LUKS)', head: qcow2({ crypt: 2 }), want: /encrypted/ },
    { desc: 'external data file', head: qcow2({ incompat: 0b100n }), want: /external data file/ },
    { desc: 'corrupt bit', head: qcow2({ incompat: 0b10n }), want: /corrupt/ },
    { desc: 'unknown incompatible feature', head: qcow2({ incompat: 1n << 40n }), want: /unknown incompatible features 0x10000000000/ },
    { desc: 'v3 header cut short', head: qcow2({ length: 80 }), size: 80, want: /104 bytes/ },
    { desc: 'v3 header_length below 104', head: qcow2({ headerLength: 72 }), want: /header_length 72/ },
    { desc: 'v3 header_length past the file', head: qcow2({ headerLength: 4096 }), size: 1024, want: /header_length 4096/ },
    { desc: 'VMDK', head: Buffer.concat([Buffer.from('KDMV'), Buffer.alloc(508)]), want: /VMDK image/ },
    { desc: 'VHDX', head: Buffer.concat([Buffer.from('vhdxfile'), Buffer.alloc(504)]), want: /VHDX image/ },
    { desc: 'LUKS', head: Buffer.concat([Buffer.from([0x4c, 0x55, 0x4b, 0x53, 0xba, 0xbe]), Buffer.alloc(506)]), want: /LUKS image/ },
  ];
  for (const c of cases) {
    const got = detectDiskFormat(c.head, c.size ?? FILE);
    t.ok('problem' in got, `${c.desc}: refused`);
    if ('problem' in got) t.match(got.problem, c.want, `${c.desc}: says why`);
  }
});
