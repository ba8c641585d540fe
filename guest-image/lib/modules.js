#!/usr/bin/env node
// @ts-check
// Resolve the modules the guest loads at boot into a load order for busybox
// `insmod` (which, unlike modprobe, does not follow dependencies). The
// dependency graph comes from each module's own .modinfo (module-info.js):
// `depends=`, and `softdep=pre:` (modules the kernel would request_module()
// at init, e.g. ext4 → crc32c, which the initramfs has no modprobe to answer).
//
// usage: modules.js <modules-dir> <out-dir> <name>...
//   copies each needed module (decompressed) flat into <out-dir> and prints
//   the load order, one file name per line, dependencies first.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { norm, indexModules, readModule, dependencies } = require('./module-info');

/**
 * Softdeps name module aliases (e.g. `crypto-crc32c`); resolving aliases in
 * general means reading every module's `alias=`, so the few the guest meets
 * are mapped to the portable generic implementation here. (crc32c_intel needs
 * SSE4.2, which QEMU's default TCG CPU does not have.)
 */
const ALIASES = {
  crc32c: 'crc32c_generic',
  crypto_crc32c: 'crc32c_generic',
  crc32: 'crc32_generic',
  crypto_crc32: 'crc32_generic',
};

function main() {
  const [dir, outDir, ...wanted] = process.argv.slice(2);
  if (!dir || !outDir || wanted.length === 0) {
    process.stderr.write('usage: modules.js <modules-dir> <out-dir> <name>...\n');
    process.exit(2);
  }
  const idx = indexModules(dir);
  /** @type {string[]} */
  const order = [];
  const state = new Map(); // name → 'visiting' | 'done'
  /** @type {Map<string,Buffer>} */
  const bytes = new Map();
  const visit = (/** @type {string} */ raw, /** @type {string} */ why, soft = false) => {
    let name = norm(raw);
    if (!idx.files.has(name) && ALIASES[/** @type {keyof typeof ALIASES} */ (name)]) name = ALIASES[/** @type {keyof typeof ALIASES} */ (name)];
    if (state.get(name) === 'done' || state.get(name) === 'visiting') return;
    const file = idx.files.get(name);
    if (!file) {
      if (idx.builtin.has(name)) return;
      if (soft) {
        process.stderr.write(`modules.js: optional softdep "${name}" of ${why} not found; skipped\n`);
        return;
      }
      throw new Error(`kernel module "${name}" (needed by ${why}) is neither a module in ${dir} nor built in`);
    }
    state.set(name, 'visiting');
    const elf = readModule(path.join(dir, file));
    bytes.set(name, elf);
    const { hard, soft: softDeps } = dependencies(idx, name, elf);
    for (const d of softDeps) visit(d, name, true);
    for (const d of hard) visit(d, name);
    state.set(name, 'done');
    order.push(name);
  };
  for (const w of wanted) visit(w, 'the guest');
  fs.mkdirSync(outDir, { recursive: true });
  for (const name of order) fs.writeFileSync(path.join(outDir, `${name}.ko`), /** @type {Buffer} */ (bytes.get(name)));
  process.stdout.write(order.map((n) => `${n}.ko\n`).join(''));
}

main();
