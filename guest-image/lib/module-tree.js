#!/usr/bin/env node
// @ts-check
// Lay out the kernel modules the guest's rootfs carries under
// /lib/modules/<release>/, for the guest kernel to load on demand: when it
// calls request_module() (SIOCBRADDBR asks for "bridge", `ip link add type
// bridge` for "rtnl-link-bridge", nft for "nfnetlink-subsys-10" and
// "nft-expr-*", iptables for "xt_*"), it runs /sbin/modprobe, busybox's, which
// finds the module through modules.alias and its dependencies through
// modules.dep. Those index files are written afterwards by the build with the
// same busybox's depmod, so writer and reader agree on the format.
//
// The selection file lists module names and directories (relative to
// lib/modules/<release>/, ending in "/": every module under it, none being
// fine for a kernel that builds them in); `#` starts a comment. A listed name
// that is neither a module nor built in fails the build, naming it. Dependencies (`depends=`) are added, and `softdep=pre:` modules
// when the package has them. Modules listed on the command line (the ones the
// initramfs loads at boot) are added too, so that modules.dep is complete.
// Modules are written decompressed at their path in the package (a .ko.xz
// becomes .ko): busybox then needs no decompressor and maps them directly.
//
// usage: module-tree.js <modules-dir> <rootfs> <selection-file> [<boot-module>...]
//   prints the names of the modules it laid out that are not boot modules, sorted.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { norm, indexModules, readModule, dependencies } = require('./module-info');

/** Copied from the package as it is (depmod writes modules.dep, .alias, .symbols; busybox needs no modules.order). */
const COPIED = ['modules.builtin'];

function main() {
  const [dir, rootfs, selection, ...boot] = process.argv.slice(2);
  if (!dir || !rootfs || !selection) {
    process.stderr.write('usage: module-tree.js <modules-dir> <rootfs> <selection-file> [<boot-module>...]\n');
    process.exit(2);
  }
  const idx = indexModules(dir);
  const out = path.join(rootfs, 'lib', 'modules', path.basename(dir));
  /** @type {Map<string,string>} name → why it is there */
  const chosen = new Map();
  /** @type {Array<[string,string]>} */
  const queue = [];
  const want = (/** @type {string} */ raw, /** @type {string} */ why, optional = false) => {
    const name = norm(raw);
    if (chosen.has(name) || idx.builtin.has(name)) return;
    if (!idx.files.has(name)) {
      if (optional) return;
      throw new Error(`kernel module "${name}" (${why}) is neither a module in ${dir} nor built in`);
    }
    chosen.set(name, why);
    queue.push([name, why]);
  };
  const lines = fs
    .readFileSync(selection, 'utf8')
    .split('\n')
    .map((l) => l.replace(/#.*/, '').trim())
    .filter(Boolean);
  for (const entry of lines.flatMap((l) => l.split(/\s+/))) {
    if (entry.endsWith('/')) {
      const under = [...idx.files].filter(([, rel]) => rel.startsWith(entry));
      // A kernel built with these features in (=y) has no modules there: nothing to carry.
      if (under.length === 0) process.stderr.write(`module-tree.js: no module under ${entry} in ${dir}; nothing carried for it\n`);
      for (const [name] of under) want(name, `under ${entry}`);
    } else {
      want(entry, `listed in ${path.basename(selection)}`);
    }
  }
  for (const b of boot) want(b, 'loaded at boot');
  for (let i = 0; i < queue.length; i++) {
    const [name] = queue[i];
    const rel = /** @type {string} */ (idx.files.get(name));
    const elf = readModule(path.join(dir, rel));
    const dest = path.join(out, rel.replace(/\.ko\.(xz|zst|gz)$/, '.ko'));
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.writeFileSync(dest, elf);
    const { hard, soft } = dependencies(idx, name, elf);
    for (const d of hard) want(d, `needed by ${name}`);
    for (const d of soft) want(d, `softdep of ${name}`, true);
  }
  for (const f of COPIED) if (fs.existsSync(path.join(dir, f))) fs.copyFileSync(path.join(dir, f), path.join(out, f));
  const bootNames = new Set(boot.map(norm));
  process.stdout.write(
    [...chosen.keys()]
      .filter((n) => !bootNames.has(n))
      .sort()
      .map((n) => `${n}\n`)
      .join(''),
  );
}

main();
