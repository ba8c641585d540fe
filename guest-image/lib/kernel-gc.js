#!/usr/bin/env node
// @ts-check
// Deletes guest kernel builds (guest-image/kernel/build's cache) that no guest
// image can need any more. Run by guest-image/build after lib/gc.js swept the
// images, so the images left are the ones kept for a reason.
//
// A kernel build (<kernel cache>/<64 hex>/) is KEPT when:
//   * it is one of the hashes given on the command line (the kernel the build
//     just used);
//   * an image still in the guest cache was built from it (its manifest's
//     packages name it as `built`): rebuilding that image with
//     VMPOD_GUEST_FORCE, or from an older checkout, finds its kernel without
//     a 10-minute compile;
//   * it is among the <keep> newest of the rest (a kernel built a moment ago
//     by another checkout whose image is not published yet).
// Everything else is deleted. Temp dirs of builds in progress (.tmp-*) are
// never touched: kernel/build removes its own.
//
// usage: kernel-gc.js <guest cache> <kernel cache> <keep> [<hash>...]
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const HASH = /^[0-9a-f]{64}$/;
const log = (/** @type {string} */ s) => process.stderr.write(`guest-image: kernel gc: ${s}\n`);

/** Kernel hashes named by the manifests of the images in the guest cache. */
function kernelsOfImages(/** @type {string} */ guestCache) {
  /** @type {Map<string,string>} kernel hash → one image naming it */
  const named = new Map();
  for (const n of fs.readdirSync(guestCache)) {
    if (!HASH.test(n)) continue;
    let manifest;
    try {
      manifest = JSON.parse(fs.readFileSync(path.join(guestCache, n, 'manifest.json'), 'utf8'));
    } catch {
      continue; // no manifest: not a finished image
    }
    for (const p of Array.isArray(manifest.packages) ? manifest.packages : []) {
      if (p && p.source === 'built' && typeof p.sha256 === 'string' && HASH.test(p.sha256) && !named.has(p.sha256)) named.set(p.sha256, n);
    }
  }
  return named;
}

function main() {
  const [guestArg, kernelArg, keepArg, ...given] = process.argv.slice(2);
  const keep = Number(keepArg);
  if (!guestArg || !kernelArg || !Number.isSafeInteger(keep) || keep < 0) {
    process.stderr.write('usage: kernel-gc.js <guest cache> <kernel cache> <keep> [<hash>...]\n');
    process.exit(2);
  }
  if (!fs.existsSync(kernelArg)) return;
  const kernelCache = fs.realpathSync(kernelArg);
  const builds = fs
    .readdirSync(kernelCache)
    .filter((n) => HASH.test(n))
    .map((n) => ({ hash: n, mtime: fs.statSync(path.join(kernelCache, n)).mtimeMs }))
    .sort((a, b) => b.mtime - a.mtime);
  const named = kernelsOfImages(fs.realpathSync(guestArg));
  let spare = keep;
  for (const { hash } of builds) {
    const short = hash.slice(0, 12);
    if (given.includes(hash)) continue;
    if (named.has(hash)) log(`keeping ${short}: image ${named.get(hash).slice(0, 12)} was built from it`);
    else if (spare > 0) {
      spare--;
      log(`keeping ${short}: one of the ${keep} newest unused kernel builds (VMPOD_KERNEL_KEEP)`);
    } else {
      log(`deleting ${short}: no image in the guest cache was built from it, older than the ${keep} newest unused builds`);
      fs.rmSync(path.join(kernelCache, hash), { recursive: true, force: true });
    }
  }
}

main();
