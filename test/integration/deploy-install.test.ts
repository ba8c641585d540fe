// deploy/installer/install.sh against a scratch HOST_ROOT: what it installs
// (vmpod tree, Node.js binary, guest image, unit, config, node labels), that a
// second run changes nothing of the operator's, and that --uninstall removes
// exactly what install put there, leaving the operator's edited config and
// everything that was already on the "node". Run with sh (dash on Debian):
// the installer is POSIX sh. The payload is a stub built here: the real
// dist/, package.json and proto/, node_modules, native/ and the node binary as
// symlinks (the installer copies links as links), and a fake guest image.
// With a scratch HOST_ROOT the installer must leave systemd alone.

import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { projectRoot } from '../../src/paths';
import { relativeTree } from '../helpers/lstat-walk';

const ROOT = projectRoot();
const INSTALL = join(ROOT, 'deploy', 'installer', 'install.sh');
const LABELS = 'etc/kubernetes/node-feature-discovery/features.d/vmpod';

function stubPayload(dir: string): void {
  cpSync(join(ROOT, 'dist'), join(dir, 'dist'), { recursive: true });
  cpSync(join(ROOT, 'proto'), join(dir, 'proto'), { recursive: true });
  copyFileSync(join(ROOT, 'package.json'), join(dir, 'package.json'));
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  symlinkSync(join(ROOT, 'native'), join(dir, 'native'));
  mkdirSync(join(dir, 'bin'));
  symlinkSync(process.execPath, join(dir, 'bin', 'node'));
  mkdirSync(join(dir, 'guest'));
  writeFileSync(join(dir, 'guest', 'vmlinux'), 'not a kernel');
  mkdirSync(join(dir, 'systemd'));
  copyFileSync(join(ROOT, 'systemd', 'vmpod.service'), join(dir, 'systemd', 'vmpod.service'));
}

const tree = relativeTree;

function run(hostRoot: string, payload: string, ...args: string[]): { status: number | null; out: string } {
  const r = spawnSync('sh', [INSTALL, ...args], { encoding: 'utf8', timeout: 180_000, env: { ...process.env, HOST_ROOT: hostRoot, PAYLOAD: payload } });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

t.test('install, install again, uninstall: exactly what install put there goes, the operator’s config stays', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-install-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const payload = join(dir, 'payload');
  const host = join(dir, 'host');
  mkdirSync(payload);
  stubPayload(payload);
  // What the node had before: must all be there, unchanged, after uninstall.
  mkdirSync(join(host, 'etc', 'systemd', 'system'), { recursive: true });
  mkdirSync(join(host, 'opt', 'other'), { recursive: true });
  writeFileSync(join(host, 'etc', 'hostname'), 'node-1\n');
  writeFileSync(join(host, 'etc', 'systemd', 'system', 'kubelet.service'), '[Unit]\n');
  const before = tree(host);

  const first = run(host, payload);
  t.equal(first.status, 0, `install exits 0\n${first.out}`);
  t.match(first.out, /not PID 1's root.*systemd left alone/, 'a scratch HOST_ROOT leaves systemd alone, and says so');

  // The program, its runtime and the guest image.
  t.ok(existsSync(join(host, 'opt/vmpod/dist/src/main.js')), 'dist installed');
  t.ok(existsSync(join(host, 'opt/vmpod/package.json')) && existsSync(join(host, 'opt/vmpod/proto')), 'package.json and proto installed');
  t.equal(readFileSync(join(host, 'opt/vmpod/guest/vmlinux'), 'utf8'), 'not a kernel', 'guest image installed');
  t.ok(statSync(join(host, 'opt/vmpod/bin/node')).isFile(), 'the Node.js binary installed');
  t.ok(existsSync(join(host, 'opt/vmpod/native/infra/build/vmpod-infra')), 'the native parts installed');
  // The unit: the repository's, running the installed node.
  const unit = readFileSync(join(host, 'etc/systemd/system/vmpod.service'), 'utf8');
  const repoUnit = readFileSync(join(ROOT, 'systemd', 'vmpod.service'), 'utf8');
  t.match(unit, /^ExecStart=\/opt\/vmpod\/bin\/node (--\S+ )*\/opt\/vmpod\/dist\/src\/main\.js serve /m);
  t.equal(unit.replace('/opt/vmpod/bin/node ', '/usr/bin/node '), repoUnit, 'otherwise the repository unit unchanged');
  // The config it wrote (there was none), pointing at the installed guest image.
  const config = join(host, 'etc/vmpod/vmpod.toml');
  t.match(readFileSync(config, 'utf8'), /^guest_dir = "\/opt\/vmpod\/guest"$/m);
  // The labels, written by the installed vmpod's check.
  const labels = readFileSync(join(host, LABELS), 'utf8').trimEnd().split('\n');
  t.same(
    labels.map((l) => l.replace(/=.*/, '')),
    ['vmpod.io/handler.runc', 'vmpod.io/handler.vm', 'vmpod.io/kvm', 'vmpod.io/version', 'vmpod.io/vhost-vsock'],
  );
  // The config's guest_dir is the node's /opt/vmpod/guest, which a scratch root does not make real here.
  t.ok(labels.includes('vmpod.io/handler.vm=false'), 'no usable guest image in this view: handler.vm=false');

  // The operator edits the config; a second install keeps it and duplicates nothing.
  writeFileSync(config, `${readFileSync(config, 'utf8')}\n# operator: tuned\nlog_level = "debug"\n`);
  const edited = readFileSync(config, 'utf8');
  const manifest = readFileSync(join(host, 'opt/vmpod.installed'), 'utf8');
  writeFileSync(join(host, 'opt/vmpod/stale-from-old-version'), '');
  const second = run(host, payload);
  t.equal(second.status, 0, `second install exits 0\n${second.out}`);
  t.match(second.out, 'keeping the existing /etc/vmpod/vmpod.toml');
  t.equal(readFileSync(config, 'utf8'), edited, 'the edited config is untouched');
  t.equal(readFileSync(join(host, 'opt/vmpod.installed'), 'utf8'), manifest, 'the manifest is the same');
  t.notOk(existsSync(join(host, 'opt/vmpod/stale-from-old-version')), 'the program tree is replaced whole');
  t.ok(existsSync(join(host, LABELS)));

  const un = run(host, payload, '--uninstall');
  t.equal(un.status, 0, `uninstall exits 0\n${un.out}`);
  t.match(un.out, 'keeping /etc/vmpod/vmpod.toml: it was changed after install');
  t.same(tree(host), [...before, 'etc/vmpod', 'etc/vmpod/vmpod.toml'].sort(), 'only what was there before, and the edited config');
  t.equal(readFileSync(config, 'utf8'), edited);
  t.equal(readFileSync(join(host, 'etc', 'hostname'), 'utf8'), 'node-1\n');

  const again = run(host, payload, '--uninstall');
  t.equal(again.status, 0, 'a second uninstall is a no-op');
  t.match(again.out, 'nothing to uninstall');
});

t.test('an untouched config the installer wrote goes with the uninstall: an empty root stays empty', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-install-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const payload = join(dir, 'payload');
  const host = join(dir, 'host');
  mkdirSync(payload);
  mkdirSync(host);
  stubPayload(payload);
  t.equal(run(host, payload).status, 0);
  t.ok(existsSync(join(host, 'etc/vmpod/vmpod.toml')));
  // Entries someone added to the manifest on the node, naming paths outside HOST_ROOT.
  const outside = join(dir, 'outside');
  writeFileSync(outside, 'not the installer’s');
  writeFileSync(join(host, 'opt/vmpod.installed'), `${readFileSync(join(host, 'opt/vmpod.installed'), 'utf8')}file ../outside\ntree ${outside}\ndir ..\n`);
  const un = run(host, payload, '--uninstall');
  t.equal(un.status, 0, un.out);
  t.match(un.out, 'skipping manifest entry outside HOST_ROOT: file ../outside');
  t.equal(readFileSync(outside, 'utf8'), 'not the installer’s', 'a path outside HOST_ROOT is never removed');
  t.same(tree(host), [], 'nothing left');
});

t.test('a payload missing a part is refused before anything is written', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-install-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const payload = join(dir, 'payload');
  const host = join(dir, 'host');
  mkdirSync(payload);
  mkdirSync(host);
  stubPayload(payload);
  rmSync(join(payload, 'guest'), { recursive: true });
  const r = run(host, payload);
  t.not(r.status, 0);
  t.match(r.out, 'has no guest');
  t.same(tree(host), []);
});
