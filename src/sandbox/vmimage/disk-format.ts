// What kind of disk a containerDisk image carries, decided from its first
// bytes and its size alone: the file is hostile input (anyone can push an
// image), so vmpod never lets a tool that parses images (qemu-img info, a
// QEMU that probes) look at it as root. A qcow2 header is checked for what
// would make QEMU open another file by a name inside the image (a backing
// file, an external data file) or what vmpod cannot boot (encryption,
// features it does not know); anything else that is a whole number of
// sectors is a raw disk, whose bytes the guest sees as they are. The
// daemon then gives QEMU the format explicitly, so QEMU never probes.
//
// qcow2 header (docs/interop/qcow2.txt in QEMU), big-endian:
//    0 magic "QFI\xfb"      4 version (2|3)        8 backing_file_offset (u64)
//   16 backing_file_size   20 cluster_bits        24 size: virtual bytes (u64)
//   32 crypt_method        36 l1_size             40 l1_table_offset (u64)
//   48 refcount_table_offset (u64)  56 refcount_table_clusters  60 nb_snapshots
//   64 snapshots_offset (u64)
//   version 3 only: 72 incompatible_features (u64)  80 compatible (u64)
//   88 autoclear (u64)  96 refcount_order  100 header_length

export const QCOW2_MAGIC = Buffer.from([0x51, 0x46, 0x49, 0xfb]);
/** Bytes read from the start of the file: enough for any qcow2 header field checked here. */
export const DISK_HEADER_BYTES = 512;
/** The largest virtual disk vmpod boots (QEMU's own qcow2 limit is 2^61 bytes; anything near it is a hostile header). */
export const MAX_VIRTUAL_SIZE = 64 * 2 ** 40;
const SECTOR = 512;

/** qcow2 v3 incompatible feature bits (QEMU 7.2): dirty, corrupt, external data file, compression type, extended L2. */
const INCOMPAT = { dirty: 0n, corrupt: 1n, dataFile: 2n, compression: 3n, extendedL2: 4n } as const;
const KNOWN_INCOMPAT = (1n << INCOMPAT.dirty) | (1n << INCOMPAT.corrupt) | (1n << INCOMPAT.dataFile) | (1n << INCOMPAT.compression) | (1n << INCOMPAT.extendedL2);

export interface DiskFormat {
  format: 'qcow2' | 'raw';
  /** The size the guest sees, in bytes. */
  virtualSize: number;
  /** qcow2 version; absent for raw. */
  qcow2Version?: 2 | 3;
}

/** Formats vmpod recognises only to refuse them by name (QEMU could open them, but not as qcow2 or raw). */
const OTHER_MAGICS: { magic: Buffer; name: string }[] = [
  { magic: Buffer.from('KDMV'), name: 'VMDK' },
  { magic: Buffer.from('vhdxfile'), name: 'VHDX' },
  { magic: Buffer.from([0x4c, 0x55, 0x4b, 0x53, 0xba, 0xbe]), name: 'LUKS' },
  { magic: Buffer.from('conectix'), name: 'VPC/VHD' },
  { magic: Buffer.from('<<< Oracle VM VirtualBox Disk Image >>>'), name: 'VDI' },
];

/**
 * The disk's format and virtual size, or a problem in words (the caller
 * names the image and file). `head` is the file's first bytes (at most
 * DISK_HEADER_BYTES, fewer for a smaller file), `fileSize` its size. Pure.
 */
export function detectDiskFormat(head: Buffer, fileSize: number): DiskFormat | { problem: string } {
  if (!Number.isSafeInteger(fileSize) || fileSize <= 0) return { problem: 'the disk file is empty' };
  if (head.length >= 4 && head.subarray(0, 4).equals(QCOW2_MAGIC)) return qcow2Header(head, fileSize);
  for (const o of OTHER_MAGICS) {
    if (head.length >= o.magic.length && head.subarray(0, o.magic.length).equals(o.magic)) {
      return { problem: `the disk is a ${o.name} image; a containerDisk must hold a qcow2 or raw disk (convert it with qemu-img convert -O qcow2)` };
    }
  }
  if (fileSize % SECTOR !== 0) return { problem: `a raw disk must be a whole number of 512-byte sectors, and this one is ${fileSize} bytes` };
  if (fileSize > MAX_VIRTUAL_SIZE) return { problem: `the raw disk is ${fileSize} bytes, more than the ${MAX_VIRTUAL_SIZE} vmpod boots` };
  return { format: 'raw', virtualSize: fileSize };
}

function qcow2Header(h: Buffer, fileSize: number): DiskFormat | { problem: string } {
  const bad = (what: string): { problem: string } => ({ problem: `qcow2 header: ${what}` });
  if (h.length < 72) return bad(`the file ends after ${h.length} bytes, inside the header`);
  const version = h.readUInt32BE(4);
  if (version !== 2 && version !== 3) return bad(`version ${version}; only 2 and 3 exist`);
  if (h.readBigUInt64BE(8) !== 0n || h.readUInt32BE(16) !== 0) {
    return bad('the image names a backing file; a containerDisk must be self-contained (qemu-img convert -O qcow2 flattens it)');
  }
  const clusterBits = h.readUInt32BE(20);
  if (clusterBits < 9 || clusterBits > 21) return bad(`cluster_bits ${clusterBits} is outside 9..21`);
  const size = h.readBigUInt64BE(24);
  if (size === 0n) return bad('the virtual size is 0');
  if (size > BigInt(MAX_VIRTUAL_SIZE)) return bad(`the virtual size ${size} is more than the ${MAX_VIRTUAL_SIZE} bytes vmpod boots`);
  if (size % BigInt(SECTOR) !== 0n) return bad(`the virtual size ${size} is not a whole number of 512-byte sectors`);
  const crypt = h.readUInt32BE(32);
  if (crypt !== 0) return bad(`the image is encrypted (crypt_method ${crypt}); vmpod boots only unencrypted images`);
  if (version === 3) {
    if (h.length < 104) return bad(`a version 3 header needs 104 bytes, and the file ends after ${h.length}`);
    const headerLength = h.readUInt32BE(100);
    if (headerLength < 104 || headerLength > fileSize) return bad(`header_length ${headerLength} is below 104 or past the end of the file`);
    const incompat = h.readBigUInt64BE(72);
    const unknown = incompat & ~KNOWN_INCOMPAT;
    if (unknown !== 0n) return bad(`unknown incompatible features 0x${unknown.toString(16)}`);
    if (incompat & (1n << INCOMPAT.dataFile)) return bad('the image keeps its data in an external data file (named inside the image); vmpod opens only the image itself');
    if (incompat & (1n << INCOMPAT.corrupt)) return bad('the image is marked corrupt (qemu-img check -r all repairs it)');
  }
  return { format: 'qcow2', virtualSize: Number(size), qcow2Version: version };
}
