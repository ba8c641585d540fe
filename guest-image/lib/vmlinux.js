#!/usr/bin/env node
// @ts-check
// Extract the uncompressed kernel ELF (vmlinux) from a bzImage and check that
// it can be booted directly through PVH (QEMU `-kernel vmlinux` looks for the
// XEN_ELFNOTE_PHYS32_ENTRY note and jumps to it in 32-bit protected mode,
// skipping the real-mode setup and the in-guest decompression, which under
// TCG is most of the time before the kernel's first line).
//
// The bzImage payload is a compressed vmlinux somewhere after the setup code;
// find each compression magic, try to decompress from there with the Debian
// tool, and keep the first result that is an ELF with the PVH note.
//
// usage: vmlinux.js <bzImage> <out-vmlinux>     prints "<compression> <offset>"
//        vmlinux.js --check <vmlinux>           exits 0 if it has the PVH note
'use strict';
const fs = require('node:fs');
const { spawnSync } = require('node:child_process');

const XEN_ELFNOTE_PHYS32_ENTRY = 18;

/** Compression formats the x86 kernel can be built with, Debian's first. */
const FORMATS = [
  { name: 'xz', magic: Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]), cmd: ['xz', '-dc', '--single-stream'] },
  { name: 'zstd', magic: Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), cmd: ['zstd', '-dc'] },
  { name: 'gzip', magic: Buffer.from([0x1f, 0x8b, 0x08]), cmd: ['gzip', '-dc'] },
];

/** @param {Buffer} elf @returns {boolean} whether a PT_NOTE holds Xen note type 18 */
function hasPvhNote(elf) {
  if (elf.length < 64 || elf.readUInt32BE(0) !== 0x7f454c46 || elf[4] !== 2 /* ELFCLASS64 */) return false;
  const phoff = Number(elf.readBigUInt64LE(0x20));
  const phentsize = elf.readUInt16LE(0x36);
  const phnum = elf.readUInt16LE(0x38);
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * phentsize;
    if (elf.readUInt32LE(ph) !== 4 /* PT_NOTE */) continue;
    let off = Number(elf.readBigUInt64LE(ph + 8));
    const end = off + Number(elf.readBigUInt64LE(ph + 32));
    while (off + 12 <= end) {
      const namesz = elf.readUInt32LE(off);
      const descsz = elf.readUInt32LE(off + 4);
      const type = elf.readUInt32LE(off + 8);
      const name = elf
        .subarray(off + 12, off + 12 + namesz)
        .toString('latin1')
        .replace(/\0+$/, '');
      if (name === 'Xen' && type === XEN_ELFNOTE_PHYS32_ENTRY) return true;
      off += 12 + ((namesz + 3) & ~3) + ((descsz + 3) & ~3);
    }
  }
  return false;
}

/** @param {Buffer} image @returns {{ format: string, offset: number, elf: Buffer } | undefined} */
function extract(image) {
  for (const f of FORMATS) {
    for (let at = image.indexOf(f.magic); at >= 0; at = image.indexOf(f.magic, at + 1)) {
      // Trailing data after the stream makes the tools complain; the output is still whole.
      const r = spawnSync(f.cmd[0], f.cmd.slice(1), { input: image.subarray(at), maxBuffer: 1 << 30 });
      const out = r.stdout;
      if (out && out.length > 64 && out.readUInt32BE(0) === 0x7f454c46) return { format: f.name, offset: at, elf: out };
    }
  }
  return undefined;
}

function main() {
  const args = process.argv.slice(2);
  if (args[0] === '--check' && args[1]) {
    process.exit(hasPvhNote(fs.readFileSync(args[1])) ? 0 : 1);
  }
  const [src, dst] = args;
  if (!src || !dst) {
    process.stderr.write('usage: vmlinux.js <bzImage> <out-vmlinux> | --check <vmlinux>\n');
    process.exit(2);
  }
  const found = extract(fs.readFileSync(src));
  if (!found) {
    process.stderr.write(`vmlinux.js: no xz/zstd/gzip-compressed ELF found in ${src}\n`);
    process.exit(1);
  }
  if (!hasPvhNote(found.elf)) {
    process.stderr.write(`vmlinux.js: ${src} decompresses to an ELF without the PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY): the kernel needs CONFIG_PVH=y\n`);
    process.exit(1);
  }
  fs.writeFileSync(dst, found.elf);
  process.stdout.write(`${found.format} ${found.offset}\n`);
}

main();
