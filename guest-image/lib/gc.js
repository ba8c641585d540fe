#!/usr/bin/env node
// @ts-check
// Deletes guest images nobody can need any more from the cache. Run by
// guest-image/build after it published a build, under the cache lock (so no
// other build records or publishes meanwhile).
//
// An image directory (<cache>/<64 hex>/ with a manifest.json) is KEPT when:
//   * it is one of the hashes given on the command line (the build just made
//     or recorded it);
//   * a checkout uses it: guest-image/build registers every checkout record
//     it writes in <cache>/.users/ (a file holding the record's path), and a
//     record that still names the image protects it. A registration whose
//     record no longer exists (the checkout was deleted) is dropped;
//   * a process maps or holds open a file in it: every running QEMU maps its
//     rootfs.img, and a daemon holds its image's manifest open
//     (holdGuestImage in src/host/guest-image.ts), so reattaching after a
//     restart and new pods of a running daemon still find their image;
//   * `current` points at it (a convenience link to the newest build; vmpod
//     itself never reads it);
//   * it is among the <keep> newest of the rest (rollback without a rebuild).
// Everything else is deleted. A daemon whose microvm.guest_dir names a
// directory inside the cache is protected only while it holds or maps it:
// point guest_dir outside the cache to pin an image.
//
// usage: gc.js <cache> <keep> [<hash>...]   (prints what it did on stderr)
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const HASH = /^[0-9a-f]{64}$/;
const log = (/** @type {string} */ s) => process.stderr.write(`guest-image: gc: ${s}\n`);

/** Hashes of images some process maps or has open, from /proc/<pid>/{maps,fd}. */
function hashesInUse(/** @type {string} */ cache) {
  const prefix = `${cache}/`;
  /** @type {Map<string,string>} hash → one pid using it */
  const used = new Map();
  const note = (/** @type {string} */ file, /** @type {string} */ pid) => {
    if (!file.startsWith(prefix)) return;
    const h = file.slice(prefix.length).split('/')[0];
    if (HASH.test(h) && !used.has(h)) used.set(h, pid);
  };
  for (const pid of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      for (const line of fs.readFileSync(`/proc/${pid}/maps`, 'utf8').split('\n')) {
        const i = line.indexOf('/');
        if (i >= 0) note(line.slice(i), pid);
      }
      for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
        try {
          note(fs.readlinkSync(`/proc/${pid}/fd/${fd}`), pid);
        } catch {
          // the fd closed meanwhile
        }
      }
    } catch {
      // the process ended, or is not ours to read (when not run as root)
    }
  }
  return used;
}

/** Hashes named by live checkout records; drops registrations of checkouts that are gone. */
function hashesOfCheckouts(/** @type {string} */ cache) {
  const users = path.join(cache, '.users');
  /** @type {Map<string,string>} hash → record path */
  const named = new Map();
  let entries;
  try {
    entries = fs.readdirSync(users);
  } catch {
    return named;
  }
  for (const e of entries) {
    const reg = path.join(users, e);
    const record = fs.readFileSync(reg, 'utf8').trim();
    let text;
    try {
      text = fs.readFileSync(record, 'utf8');
    } catch (err) {
      if (/** @type {NodeJS.ErrnoException} */ (err).code === 'ENOENT') {
        log(`forgetting checkout record ${record} (it no longer exists)`);
        fs.rmSync(reg, { force: true });
      }
      continue;
    }
    try {
      const h = JSON.parse(text).hash;
      if (typeof h === 'string' && HASH.test(h)) named.set(h, record);
    } catch {
      // a record being rewritten is replaced atomically; anything else protects nothing
    }
  }
  return named;
}

function main() {
  const [cacheArg, keepArg, ...given] = process.argv.slice(2);
  const keep = Number(keepArg);
  if (!cacheArg || !Number.isSafeInteger(keep) || keep < 0) {
    process.stderr.write('usage: gc.js <cache> <keep> [<hash>...]\n');
    process.exit(2);
  }
  const cache = fs.realpathSync(cacheArg);
  const images = fs
    .readdirSync(cache)
    .filter((n) => HASH.test(n) && fs.existsSync(path.join(cache, n, 'manifest.json')))
    .map((n) => ({ hash: n, mtime: fs.statSync(path.join(cache, n)).mtimeMs }))
    .sort((a, b) => b.mtime - a.mtime);
  const checkouts = hashesOfCheckouts(cache);
  const inUse = hashesInUse(cache);
  let current = '';
  try {
    current = path.basename(fs.readlinkSync(path.join(cache, 'current')));
  } catch {
    // no current link
  }
  let spare = keep;
  for (const { hash } of images) {
    const short = hash.slice(0, 12);
    if (given.includes(hash)) continue;
    if (checkouts.has(hash)) log(`keeping ${short}: checkout record ${checkouts.get(hash)} names it`);
    else if (inUse.has(hash)) log(`keeping ${short}: process ${inUse.get(hash)} maps or holds a file in it`);
    else if (hash === current) log(`keeping ${short}: current points at it`);
    else if (spare > 0) {
      spare--;
      log(`keeping ${short}: one of the ${keep} newest unused builds (VMPOD_GUEST_KEEP)`);
    } else {
      log(`deleting ${short}: no checkout record names it, no process uses it, older than the ${keep} newest unused builds`);
      fs.rmSync(path.join(cache, hash), { recursive: true, force: true });
    }
  }
}

main();
