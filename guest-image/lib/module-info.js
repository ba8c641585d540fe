// @ts-check
// What guest-image/lib/modules.js (the modules the initramfs loads) and
// guest-image/lib/module-tree.js (the modules the rootfs carries for loading
// on demand) both need to know about a kernel package's modules, read from
// the modules themselves: the package ships no modules.dep (depmod writes it
// at install time, and the host need not have kmod).
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

/** Module names compare with '-' and '_' as equal (as the kernel does). */
const norm = (/** @type {string} */ n) => n.replace(/-/g, '_');

/** Name of a module file: kernel/net/bridge/bridge.ko(.xz) → bridge. */
const moduleName = (/** @type {string} */ file) => norm(path.basename(file).replace(/\.ko(\.(xz|zst|gz))?$/, ''));

/**
 * @typedef {object} ModuleIndex
 * @property {string} dir      lib/modules/<release>
 * @property {Map<string,string>} files   name → path relative to dir
 * @property {Set<string>} builtin  names built into the kernel (nothing to load)
 * @property {Map<string,string[]>} depFile  name → dependencies from modules.dep, if the tree has one
 */

/** @param {string} dir lib/modules/<release> of the kernel package @returns {ModuleIndex} */
function indexModules(dir) {
  /** @type {Map<string,string>} */
  const files = new Map();
  const walk = (/** @type {string} */ rel) => {
    for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(p);
      else if (/\.ko(\.(xz|zst|gz))?$/.test(e.name)) files.set(moduleName(e.name), p);
    }
  };
  walk('');
  const builtinFile = path.join(dir, 'modules.builtin');
  const builtin = new Set(fs.existsSync(builtinFile) ? fs.readFileSync(builtinFile, 'utf8').split('\n').filter(Boolean).map(moduleName) : []);
  /** @type {Map<string,string[]>} */
  const depFile = new Map();
  const dep = path.join(dir, 'modules.dep');
  if (fs.existsSync(dep)) {
    for (const line of fs.readFileSync(dep, 'utf8').split('\n')) {
      const [mod, rest] = line.split(':');
      if (mod && rest !== undefined) depFile.set(moduleName(mod), rest.trim().split(/\s+/).filter(Boolean).map(moduleName));
    }
  }
  return { dir, files, builtin, depFile };
}

/** @param {string} file @returns {Buffer} the module's ELF bytes (decompressed) */
function readModule(file) {
  if (file.endsWith('.ko')) return fs.readFileSync(file);
  const tool = file.endsWith('.xz') ? 'xz' : file.endsWith('.zst') ? 'zstd' : 'gzip';
  return execFileSync(tool, ['-dc', file], { maxBuffer: 1 << 28 });
}

/** `key=value` strings from the module's .modinfo (NUL-separated). */
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

/**
 * A module's hard dependencies (`depends=`: the edges modpost computed from
 * symbol references, the same ones depmod writes into modules.dep, plus
 * modules.dep's own if present) and its `softdep=pre:` names (modules it
 * request_module()s at init, e.g. ext4 → crc32c).
 */
function dependencies(/** @type {ModuleIndex} */ idx, /** @type {string} */ name, /** @type {Buffer} */ elf) {
  const hard = new Set(idx.depFile.get(name) ?? []);
  for (const d of modinfo(elf, 'depends').join(',').split(',')) if (d) hard.add(norm(d));
  const soft = new Set();
  for (const s of modinfo(elf, 'softdep')) {
    const m = /pre:\s*([^:]*?)(\s+post:|$)/.exec(s);
    if (m) for (const d of m[1].split(/\s+/)) if (d) soft.add(norm(d));
  }
  return { hard, soft };
}

module.exports = { norm, moduleName, indexModules, readModule, modinfo, dependencies };
