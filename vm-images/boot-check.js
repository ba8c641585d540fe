#!/usr/bin/env node
// Boots a VM-image test disk by hand, without vmpod, and checks that it does
// what the VM-image pod tests need (docs/vm-image-pods.md): QEMU under TCG,
// SeaBIOS, the disk behind a fresh qcow2 overlay as virtio-blk, a NoCloud
// cidata ISO (genisoimage) as a second virtio-blk with a static IP for the
// user-mode NIC matched by MAC, the serial console on stdout (timestamped
// into console.log), qemu-guest-agent on its virtio-serial port. Prints the
// time from QEMU's start to the kernel's first line, the login prompt and
// cloud-init's final stage; then checks that user-data's write_files and
// runcmd ran (its web server answers through a host port forward), that
// guest-exec works over the agent port, and that QMP system_powerdown powers
// the guest off (and how long that takes). Two read-only 9p shares check the
// kernel's 9p: one mounted by cloud-init's `mounts` from vendor-data, one by hand.
//
// Heavy (a whole Debian boot under TCG): run under the heavy lock.
//
//   flock /tmp/vmpod-heavy.lock node vm-images/boot-check.js <disk.qcow2> [--smp N] [--mem MiB] [--keep]
//
// Exit status 0 when every check passed. --keep leaves the work dir (console.log).
// BOOT_CHECK_DIAG='<shell command>' runs it in the guest through the agent
// after the checks and prints its output (e.g. systemd-analyze blame).

'use strict';

const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  if (i < 0) return dflt;
  const v = args[i + 1];
  args.splice(i, 2);
  return v;
};
const smp = Number(opt('--smp', '1'));
const mem = Number(opt('--mem', '1024'));
const keep = args.includes('--keep');
const disk = args.filter((a) => a !== '--keep')[0];
if (!disk || !fs.existsSync(disk)) {
  process.stderr.write('usage: boot-check.js <disk.qcow2> [--smp N] [--mem MiB] [--keep]\n');
  process.exit(2);
}

const MAC = '52:54:00:12:34:56';
const GUEST_IP = '10.0.2.15'; // QEMU user-mode network: guest 10.0.2.15, gateway .2, DNS .3
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmpod-boot-check-'));
const results = [];
const check = (ok, what) => {
  results.push({ ok, what });
  process.stderr.write(`${ok ? 'ok  ' : 'FAIL'} ${what}\n`);
};

// --- cidata ------------------------------------------------------------------
const cidata = path.join(dir, 'cidata');
fs.mkdirSync(cidata);
fs.writeFileSync(path.join(cidata, 'meta-data'), 'instance-id: boot-check-1\nlocal-hostname: boot-check\n');
fs.writeFileSync(
  path.join(cidata, 'user-data'),
  [
    '#cloud-config',
    'write_files:',
    '  - path: /srv/www/index.html',
    '    content: "written by cloud-init write_files\\n"',
    'runcmd:',
    '  - [systemd-run, --unit=boot-check-web, python3, -m, http.server, "8080", --directory, /srv/www]',
    '  - [sh, -c, "echo runcmd ran > /run/boot-check-runcmd"]',
    '',
  ].join('\n'),
);
fs.writeFileSync(
  path.join(cidata, 'network-config'),
  [
    'version: 2',
    'ethernets:',
    '  eth0:',
    '    match:',
    `      macaddress: "${MAC}"`,
    '    set-name: eth0',
    `    addresses: [${GUEST_IP}/24]`,
    '    routes:',
    '      - to: 0.0.0.0/0',
    '        via: 10.0.2.2',
    '    nameservers:',
    '      addresses: [10.0.2.3]',
    '',
  ].join('\n'),
);
// Read-only 9p shares: two that cloud-init mounts from vendor-data's `mounts`
// (a plain tag and one with a colon, which cc_mounts takes for `host:path`),
// one mounted by hand over guest-exec.
const share = path.join(dir, 'share');
fs.mkdirSync(share);
fs.writeFileSync(path.join(share, 'hello'), 'hello over 9p\n');
const TAG_CI = 'vmpod:f0';
const TAG_PLAIN = 'plain0';
const TAG_HAND = 'hand0';
fs.writeFileSync(
  path.join(cidata, 'vendor-data'),
  [
    '#cloud-config',
    'mounts:',
    `  - ["${TAG_CI}", /mnt/f0, 9p, "trans=virtio,version=9p2000.L,ro,nofail", "0", "0"]`,
    `  - ["${TAG_PLAIN}", /mnt/p0, 9p, "trans=virtio,version=9p2000.L,ro,nofail", "0", "0"]`,
    '',
  ].join('\n'),
);
const iso = path.join(dir, 'cidata.iso');
execFileSync('genisoimage', ['-quiet', '-output', iso, '-volid', 'cidata', '-joliet', '-rock', 'user-data', 'meta-data', 'network-config', 'vendor-data'], { cwd: cidata });
const overlay = path.join(dir, 'overlay.qcow2');
execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', path.resolve(disk), '-F', 'qcow2', overlay]);

// --- QEMU --------------------------------------------------------------------
const qga = path.join(dir, 'qga.sock');
const qmp = path.join(dir, 'qmp.sock');
const port = 20000 + (process.pid % 20000);
const argv = [
  '-name',
  'boot-check',
  '-machine',
  'pc',
  '-accel',
  `tcg,thread=${smp > 1 ? 'multi' : 'single'}`,
  '-cpu',
  'max',
  '-smp',
  String(smp),
  '-m',
  String(mem),
  '-nodefaults',
  '-no-user-config',
  '-display',
  'none',
  '-serial',
  'stdio',
  '-drive',
  `file=${overlay},if=none,id=disk0,format=qcow2`,
  '-device',
  'virtio-blk-pci,drive=disk0,bootindex=1',
  '-drive',
  `file=${iso},if=none,id=cidata,format=raw,readonly=on`,
  '-device',
  'virtio-blk-pci,drive=cidata',
  '-netdev',
  `user,id=net0,hostfwd=tcp:127.0.0.1:${port}-:8080`,
  '-device',
  `virtio-net-pci,netdev=net0,mac=${MAC}`,
  '-device',
  'virtio-serial-pci',
  '-chardev',
  `socket,id=qga0,path=${qga},server=on,wait=off`,
  '-device',
  'virtserialport,chardev=qga0,name=org.qemu.guest_agent.0',
  '-qmp',
  `unix:${qmp},server=on,wait=off`,
  '-fsdev',
  `local,id=fs0,path=${share},security_model=none,readonly=on`,
  '-device',
  `virtio-9p-pci,fsdev=fs0,mount_tag=${TAG_CI}`,
  '-fsdev',
  `local,id=fs1,path=${share},security_model=none,readonly=on`,
  '-device',
  `virtio-9p-pci,fsdev=fs1,mount_tag=${TAG_PLAIN}`,
  '-fsdev',
  `local,id=fs2,path=${share},security_model=none,readonly=on`,
  '-device',
  `virtio-9p-pci,fsdev=fs2,mount_tag=${TAG_HAND}`,
];
const t0 = Date.now();
const secs = () => ((Date.now() - t0) / 1000).toFixed(1);
const qemu = spawn('qemu-system-x86_64', argv, { stdio: ['ignore', 'pipe', 'inherit'] });
const exited = new Promise((resolve) => qemu.on('exit', (code, sig) => resolve({ code, sig, at: Date.now() })));
const log = fs.createWriteStream(path.join(dir, 'console.log'));
const milestones = {};
const marks = [
  ['kernel', /Linux version \d/],
  ['login', /login: ?$/],
  ['final', /Cloud-init v\. \S+ finished/],
];
let pending = '';
const waiters = [];
qemu.stdout.on('data', (chunk) => {
  pending += chunk.toString('latin1');
  // A login prompt has no newline after it: look at the unterminated tail too.
  const lines = pending.split(/\r?\n/);
  pending = lines.pop();
  for (const line of [...lines, pending]) {
    for (const [name, re] of marks) if (!milestones[name] && re.test(line)) milestones[name] = (Date.now() - t0) / 1000;
  }
  for (const line of lines) log.write(`[${secs().padStart(6)}] ${line}\n`);
  for (const w of waiters.splice(0)) w();
});
const waitFor = async (name, ms) => {
  const end = Date.now() + ms;
  while (milestones[name] === undefined && Date.now() < end && qemu.exitCode === null) await new Promise((r) => waiters.push(r) && setTimeout(r, 1000));
  return milestones[name];
};

// A JSON line protocol over a unix socket (QMP and the guest agent).
async function jsonSocket(file) {
  const sock = net.connect(file);
  await new Promise((resolve, reject) => sock.once('connect', resolve).once('error', reject));
  let buf = '';
  const queue = [];
  sock.on('data', (d) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i).trim();
      buf = buf.slice(i + 1);
      if (!line) continue;
      const msg = JSON.parse(line);
      if ('return' in msg || 'error' in msg) queue.shift()?.(msg);
    }
  });
  return {
    call: (execute, a, ms = 20000) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${execute}: no answer in ${ms} ms`)), ms);
        queue.push((m) => {
          clearTimeout(timer);
          resolve(m);
        });
        sock.write(JSON.stringify(a ? { execute, arguments: a } : { execute }) + '\n');
      }),
    close: () => sock.destroy(),
  };
}

const get = (url) =>
  new Promise((resolve) => {
    const r = http.get(url, { timeout: 10000 }, (res) => {
      let b = '';
      res.on('data', (d) => (b += d));
      res.on('end', () => resolve({ status: res.statusCode, body: b }));
    });
    r.on('error', (e) => resolve({ status: 0, body: String(e) }));
    r.on('timeout', () => r.destroy(new Error('timeout')));
  });

async function main() {
  process.stderr.write(`boot-check: ${disk}, TCG, ${smp} vCPU, ${mem} MiB; console in ${dir}/console.log\n`);
  const kernel = await waitFor('kernel', 120000);
  check(kernel !== undefined, `kernel's first line ("Linux version") at ${kernel ?? '-'} s`);
  const final = await waitFor('final', 900000);
  check(final !== undefined, `cloud-init's final stage ("Cloud-init v. ... finished") at ${final ?? '-'} s`);
  const login = await waitFor('login', 60000);
  check(login !== undefined, `login prompt on ttyS0 at ${login ?? '-'} s`);

  // runcmd starts the server with systemd-run: Python's start under TCG takes seconds.
  let web = { status: 0, body: '' };
  for (let i = 0; i < 30 && web.status !== 200; i++) {
    web = await get(`http://127.0.0.1:${port}/`);
    if (web.status !== 200) await new Promise((r) => setTimeout(r, 1000));
  }
  check(
    web.status === 200 && web.body.includes('written by cloud-init write_files'),
    `user-data's web server serves write_files' file on the static IP (${web.status} ${web.body.trim().slice(0, 80)})`,
  );

  try {
    const ga = await jsonSocket(qga);
    const ping = await ga.call('guest-ping');
    check('return' in ping, 'guest-ping answered');
    const ex = await ga.call('guest-exec', { path: '/bin/sh', arg: ['-c', 'cat /run/boot-check-runcmd; ip -4 -o addr show eth0; hostname'], 'capture-output': true });
    const pid = ex.return?.pid;
    let st;
    for (let i = 0; i < 50; i++) {
      st = await ga.call('guest-exec-status', { pid });
      if (st.return?.exited) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const out = Buffer.from(st?.return?.['out-data'] ?? '', 'base64').toString();
    process.stderr.write(`guest-exec output:\n${out}`);
    check(st?.return?.exitcode === 0 && out.includes('runcmd ran'), 'guest-exec runs a command; runcmd ran');
    check(out.includes(`inet ${GUEST_IP}/24`), `network-config's static address ${GUEST_IP} is on eth0`);
    check(out.includes('boot-check'), "meta-data's local-hostname is the hostname");
    const nine = await ga.call('guest-exec', {
      path: '/bin/sh',
      arg: ['-c', `cat /mnt/f0/hello; cat /mnt/p0/hello; mkdir -p /mnt/m && mount -t 9p -o trans=virtio,version=9p2000.L ${TAG_HAND} /mnt/m && cat /mnt/m/hello`],
      'capture-output': true,
    });
    let ns;
    for (let i = 0; i < 50; i++) {
      ns = await ga.call('guest-exec-status', { pid: nine.return?.pid });
      if (ns.return?.exited) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const nout = Buffer.from(ns?.return?.['out-data'] ?? '', 'base64').toString();
    process.stderr.write(`9p output:\n${nout}${Buffer.from(ns?.return?.['err-data'] ?? '', 'base64').toString()}`);
    const lines = nout.split('\n');
    check(lines[0] === 'hello over 9p', `cloud-init's mounts (vendor-data) mounted 9p tag ${TAG_CI} at /mnt/f0`);
    check(lines[1] === 'hello over 9p', `cloud-init's mounts (vendor-data) mounted 9p tag ${TAG_PLAIN} at /mnt/p0`);
    check(lines[2] === 'hello over 9p', `mount -t 9p -o trans=virtio,version=9p2000.L ${TAG_HAND} works by hand`);
    if (process.env.BOOT_CHECK_DIAG) {
      const d = await ga.call('guest-exec', { path: '/bin/sh', arg: ['-c', process.env.BOOT_CHECK_DIAG], 'capture-output': true });
      let ds;
      for (let i = 0; i < 100; i++) {
        ds = await ga.call('guest-exec-status', { pid: d.return?.pid });
        if (ds.return?.exited) break;
        await new Promise((r) => setTimeout(r, 300));
      }
      process.stderr.write(`BOOT_CHECK_DIAG:\n${Buffer.from(ds?.return?.['out-data'] ?? '', 'base64').toString()}${Buffer.from(ds?.return?.['err-data'] ?? '', 'base64').toString()}\n`);
    }
    ga.close();
  } catch (e) {
    check(false, `guest agent: ${e.message}`);
  }

  const m = await jsonSocket(qmp);
  await m.call('qmp_capabilities');
  const down = Date.now();
  await m.call('system_powerdown');
  const res = await Promise.race([exited, new Promise((r) => setTimeout(() => r(undefined), 120000))]);
  check(res !== undefined, `system_powerdown powered the guest off in ${res ? ((res.at - down) / 1000).toFixed(1) : '>120'} s`);
  if (!res) qemu.kill('SIGKILL');
  m.close();
  log.end();
}

main()
  .catch((e) => check(false, e.stack))
  .finally(async () => {
    if (qemu.exitCode === null) qemu.kill('SIGKILL');
    await exited;
    const failed = results.filter((r) => !r.ok).length;
    process.stderr.write(`boot-check: ${failed === 0 ? 'all passed' : `${failed} FAILED`}; milestones ${JSON.stringify(milestones)}\n`);
    if (!keep && failed === 0) fs.rmSync(dir, { recursive: true, force: true });
    process.exit(failed === 0 ? 0 : 1);
  });
