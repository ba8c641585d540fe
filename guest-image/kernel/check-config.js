#!/usr/bin/env node
// @ts-check
// Check that a kernel .config holds every option a config fragment asks for.
// Kconfig silently drops an option whose dependencies are not met (and
// silently turns on what another option selects), so a fragment line can be
// a wish the kernel never granted; this makes the build say so instead.
//
// usage: check-config.js <.config> <fragment>...
//   prints one line per option that differs ("CONFIG_X: asked y, got n", with
//   the fragment that asked) and exits 1 if any does.
'use strict';
const fs = require('node:fs');

/**
 * The options a config file sets: `CONFIG_X=v`, and `# CONFIG_X is not set`
 * or `CONFIG_X=n` as "n". Pure.
 * @param {string} text
 * @returns {Map<string, string>}
 */
function parseConfig(text) {
  const out = new Map();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    let m = /^(CONFIG_\w+)=(.*)$/.exec(line);
    if (m) {
      out.set(m[1], m[2]);
      continue;
    }
    m = /^# (CONFIG_\w+) is not set$/.exec(line);
    if (m) out.set(m[1], 'n');
  }
  return out;
}

/**
 * The fragment's options that the config does not hold as asked. An option
 * absent from a .config is off ("n"). Pure.
 * @param {Map<string, string>} wanted
 * @param {Map<string, string>} got
 * @returns {string[]}
 */
function differences(wanted, got) {
  const out = [];
  for (const [k, v] of wanted) {
    const have = got.get(k) ?? 'n';
    if (have !== v) out.push(`${k}: asked ${v}, got ${have}`);
  }
  return out;
}

function main() {
  const [config, ...fragments] = process.argv.slice(2);
  if (!config || fragments.length === 0) {
    process.stderr.write('usage: check-config.js <.config> <fragment>...\n');
    process.exit(2);
  }
  const got = parseConfig(fs.readFileSync(config, 'utf8'));
  let bad = 0;
  for (const f of fragments) {
    for (const d of differences(parseConfig(fs.readFileSync(f, 'utf8')), got)) {
      process.stderr.write(`check-config.js: ${d} (${f})\n`);
      bad++;
    }
  }
  process.exit(bad === 0 ? 0 : 1);
}

if (require.main === module) main();
module.exports = { parseConfig, differences };
