#!/usr/bin/env node
// @ts-check
// Resolve the guest's kernel modules into a load order for busybox `insmod`
// (which, unlike modprobe, does not follow dependencies).
//
// The Debian package ships no modules.dep (depmod writes it at install time,
// and the host need not have kmod), so the dependency graph is read from each
// module's own `.modinfo` section: `depends=` (what modpost computed from
// symbol references — the same edges depmod writes into modules.dep) and
// `softdep=pre:` (modules the kernel would request_module() at init, e.g.
// ext4 → crc32c, which cannot be requested without a modprobe in the guest).
// If a modules.dep is present it is used as well.
//
// usage: modules.js <modules-dir> <out-dir> <name>...
//   copies each needed module (decompressed) flat into <out-dir> and prints
//   the load order, one file name per line, dependencies first.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

/** Module names compare with '-' and '_' as equal (as the kernel does). */
const norm = (/** @type {string} */ n) => n.replace(/-/g, '_');

/**
 * Softdeps name module aliases (e.g. `crypto-crc32c`); resolving aliases in
 * general means reading every module's `alias=`, so the few the guest meets
 * are mapped to the portable generic implementation here. (crc32c_intel needs
 * SSE4.2, which QEMU's default TCG CPU does not have.)
 */
const ALIASES = {
  crc32c: 'crc32c_generic', crypto_crc32c: 'crc32c_generic',
  crc32: 'crc32_generic', crypto_crc32: 'crc32_generic',
};

/** @param {string} dir @returns {Map<string,string>} name → absolute path */
function indexModules(dir) {
  /** @type {Map<string,string>} */
  const idx = new Map();
  const walk = (/** @type {string} */ d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else {
        const m = /^(.*)\.ko(\.(xz|zst|gz))?$/.exec(e.name);
        if (m) idx.set(norm(m[1]), p);
      }
    }
  };
  walk(dir);
  return idx;
}

/** @param {string} file @returns {Buffer} the module's ELF bytes */
function readModule(file) {
  if (file.endsWith('.ko')) return fs.readFileSync(file);
  const tool = file.endsWith('.xz') ? 'xz' : file.endsWith('.zst') ? 'zstd' : 'gzip';
  return execFileSync(tool, ['-dc', file], { maxBuffer: 1 << 28 });
}

/** Extract `key=value` strings from the module's .modinfo (NUL-separated). */
function modinfo(/** @type {Buffer} */ elf, /** @type {string} */ key) {
  const out = [];
  const needle = Buffer.from(`\0${key}=`);
  let at = elf.indexOf(needle);
  while (at >= 0) {
    const start = at + needle.length;
    const end = elf.indexOf(0, start);
    out.push(elf.subarray(start, end).toString('latin1'));
    at = elf.indexOf(needle, end);
  }
  return out;
}

/** Names listed in modules.builtin (built into the kernel: nothing to load). */
function builtins(/** @type {string} */ dir) {
  const f = path.join(dir, 'modules.builtin');
  if (!fs.existsSync(f)) return new Set();
  return new Set(fs.readFileSync(f, 'utf8').split('\n').filter(Boolean)
    .map((l) => norm(path.basename(l).replace(/\.ko.*$/, ''))));
}

/** Dependencies from modules.dep, if the tree has one. */
function depFile(/** @type {string} */ dir) {
  const f = path.join(dir, 'modules.dep');
  /** @type {Map<string,string[]>} */
  const deps = new Map();
  if (!fs.existsSync(f)) return deps;
  const base = (/** @type {string} */ p) => norm(path.basename(p).replace(/\.ko.*$/, ''));
  for (const line of fs.readFileSync(f, 'utf8').split('\n')) {
    const [mod, rest] = line.split(':');
    if (mod && rest !== undefined) deps.set(base(mod), rest.trim().split(/\s+/).filter(Boolean).map(base));
  }
  return deps;
}

function main() {
  const [dir, outDir, ...wanted] = process.argv.slice(2);
  if (!dir || !outDir || wanted.length === 0) {
    process.stderr.write('usage: modules.js <modules-dir> <out-dir> <name>...\n');
    process.exit(2);
  }
  const idx = indexModules(dir);
  const builtin = builtins(dir);
  const depmap = depFile(dir);
  /** @type {string[]} */
  const order = [];
  const state = new Map(); // name → 'visiting' | 'done'
  /** @type {Map<string,Buffer>} */
  const bytes = new Map();
  const visit = (/** @type {string} */ raw, /** @type {string} */ why, soft = false) => {
    let name = norm(raw);
    if (!idx.has(name) && ALIASES[/** @type {keyof typeof ALIASES} */ (name)]) name = ALIASES[/** @type {keyof typeof ALIASES} */ (name)];
    if (state.get(name) === 'done' || state.get(name) === 'visiting') return;
    const file = idx.get(name);
    if (!file) {
      if (builtin.has(name)) return;
      if (soft) {
        process.stderr.write(`modules.js: optional softdep "${name}" of ${why} not found; skipped\n`);
        return;
      }
      throw new Error(`kernel module "${name}" (needed by ${why}) is neither a module in ${dir} nor built in`);
    }
    state.set(name, 'visiting');
    const elf = readModule(file);
    bytes.set(name, elf);
    const deps = new Set(depmap.get(name) ?? []);
    for (const d of modinfo(elf, 'depends').join(',').split(',')) if (d) deps.add(norm(d));
    const softDeps = new Set();
    for (const s of modinfo(elf, 'softdep')) {
      const m = /pre:\s*([^:]*?)(\s+post:|$)/.exec(s);
      if (m) for (const d of m[1].split(/\s+/)) if (d) softDeps.add(norm(d));
    }
    for (const d of softDeps) visit(d, name, true);
    for (const d of deps) visit(d, name);
    state.set(name, 'done');
    order.push(name);
  };
  for (const w of wanted) visit(w, 'the guest');
  fs.mkdirSync(outDir, { recursive: true });
  for (const name of order) fs.writeFileSync(path.join(outDir, `${name}.ko`), /** @type {Buffer} */ (bytes.get(name)));
  process.stdout.write(order.map((n) => `${n}.ko\n`).join(''));
}

main();
