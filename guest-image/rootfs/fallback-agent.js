// Stand-in for the real vmpod agent (dist/agent/vmpod-agent.js), put into the
// image only when the real bundle has not been built yet, so that the image
// and its boot test work on their own. It honours the kernel-cmdline contract
// the real agent implements too (see docs/guest.md):
//   vmpod.selftest=boot  print "vmpod-agent: selftest ok node=<version>" and power off.
'use strict';
const fs = require('node:fs');
const { spawnSync } = require('node:child_process');

const say = (line) => process.stdout.write(`${line}\n`);
const poweroff = () => {
  spawnSync('/bin/busybox', ['poweroff', '-f'], { stdio: 'inherit' });
  process.exit(1);
};

say(`vmpod-agent fallback node ${process.version}`);
const cmdline = fs.readFileSync('/proc/cmdline', 'utf8').trim().split(/\s+/);
if (cmdline.includes('vmpod.selftest=boot')) {
  let write;
  try {
    fs.writeFileSync('/opt/vmpod/.selftest-write', 'x');
    write = 'ALLOWED';
  } catch (err) {
    write = `refused (${err.code})`;
  }
  say(`vmpod-agent: rootfs write ${write}`);
  if (write === 'ALLOWED') say('vmpod-agent: selftest FAILED: rootfs is writable');
  else say(`vmpod-agent: selftest ok node=${process.version}`);
}
poweroff();
