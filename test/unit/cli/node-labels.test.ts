// Node labels for node-feature-discovery's local source (`vmpod check
// --node-labels FILE`): the pure facts -> lines part, the atomic write, and
// the real CLI writing the file.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { nodeLabelLines, writeFeatureFile } from '../../../src/cli/node-labels';
import type { Capability } from '../../../src/host/capabilities';
import { ConfigError } from '../../../common/errors';
import { MAIN } from '../../helpers/daemon';

const ok = (name: string, neededBy: string[] = []): Capability => ({ name, status: 'OK', detail: '', neededBy });
const missing = (name: string, neededBy: string[] = []): Capability => ({ name, status: 'MISSING', detail: '', neededBy });

t.test('every handler usable, KVM and vhost-vsock present: all true, sorted, prefixed', async (t) => {
  const lines = nodeLabelLines({ handlers: ['vm', 'runc'], capabilities: [ok('root', ['runc', 'vm']), ok('qemu', ['vm']), ok('kvm'), ok('vhost-vsock')], version: '0.1.0' });
  t.same(lines, ['vmpod.io/handler.runc=true', 'vmpod.io/handler.vm=true', 'vmpod.io/kvm=true', 'vmpod.io/version=0.1.0', 'vmpod.io/vhost-vsock=true']);
});

t.test('a blocker marks only the handlers that need it; informational misses do not block', async (t) => {
  const lines = nodeLabelLines({
    handlers: ['runc', 'vm', 'vm-big'],
    capabilities: [ok('runc', ['runc']), missing('guest-image', ['vm', 'vm-big']), missing('kvm'), missing('vhost-vsock')],
    version: '1.2.3',
  });
  t.same(lines, ['vmpod.io/handler.runc=true', 'vmpod.io/handler.vm=false', 'vmpod.io/handler.vm-big=false', 'vmpod.io/kvm=false', 'vmpod.io/version=1.2.3', 'vmpod.io/vhost-vsock=false']);
});

t.test('/dev/kvm present but unusable (the deep probe failed) is kvm=false', async (t) => {
  const lines = nodeLabelLines({ handlers: [], capabilities: [{ name: 'kvm', status: 'UNUSABLE', detail: 'cannot boot', neededBy: [] }, ok('vhost-vsock')], version: '0.1.0' });
  t.ok(lines.includes('vmpod.io/kvm=false'));
  t.ok(lines.includes('vmpod.io/vhost-vsock=true'));
});

t.test('names and values a label cannot hold are refused, not written', async (t) => {
  t.throws(() => nodeLabelLines({ handlers: ['bad/name'], capabilities: [], version: '0.1.0' }), ConfigError);
  t.throws(() => nodeLabelLines({ handlers: ['runc'], capabilities: [], version: '0.1.0+build/7' }), ConfigError);
  t.throws(() => nodeLabelLines({ handlers: ['x'.repeat(60)], capabilities: [], version: '0.1.0' }), ConfigError);
});

t.test('writeFeatureFile replaces the file whole and leaves no temporary file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-labels-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'vmpod');
  writeFileSync(file, 'stale=1\nvmpod.io/kvm=true\n');
  writeFeatureFile(file, ['vmpod.io/kvm=false', 'vmpod.io/version=0.1.0']);
  t.equal(readFileSync(file, 'utf8'), 'vmpod.io/kvm=false\nvmpod.io/version=0.1.0\n');
  t.equal(statSync(file).mode & 0o777, 0o644, 'nfd-worker (any uid) can read it');
  t.same(readdirSync(dir), ['vmpod']);
  t.throws(() => writeFeatureFile(join(dir, 'no-such-dir', 'vmpod'), ['a=b']), { code: 'ENOENT' });
  t.same(readdirSync(dir), ['vmpod'], 'a failed write leaves nothing behind');
});

t.test('the real CLI: vmpod check --node-labels FILE writes the labels of this host', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-labels-cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'vmpod');
  const r = spawnSync(process.execPath, [MAIN, 'check', '--node-labels', file], { encoding: 'utf8', timeout: 120_000 });
  t.match(r.stdout, `node labels written to ${file}`);
  const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
  t.same(
    lines.map((l) => l.split('=')[0]),
    ['vmpod.io/handler.runc', 'vmpod.io/handler.vm', 'vmpod.io/kvm', 'vmpod.io/version', 'vmpod.io/vhost-vsock'],
    'one line per default handler and fact',
  );
  for (const l of lines.filter((l) => !l.startsWith('vmpod.io/version='))) t.match(l, /=(true|false)$/);
  // The labels agree with what check itself printed (and with its exit code).
  t.equal(lines.includes('vmpod.io/kvm=true'), /^OK\s+kvm\s/m.test(r.stdout), 'kvm label matches the kvm line');
  t.equal(lines.includes('vmpod.io/vhost-vsock=true'), /^OK\s+vhost-vsock\s/m.test(r.stdout), 'vhost-vsock label matches');
  if (r.status === 0) t.ok(lines.includes('vmpod.io/handler.runc=true') && lines.includes('vmpod.io/handler.vm=true'), 'exit 0: every handler usable');
  else
    t.ok(
      lines.some((l) => /^vmpod\.io\/handler\..*=false$/.test(l)),
      'exit 1: some handler labelled false',
    );
  const v = JSON.parse(readFileSync(join(__dirname, '..', '..', '..', '..', 'package.json'), 'utf8')) as { version: string };
  t.ok(lines.includes(`vmpod.io/version=${v.version}`));

  const bad = spawnSync(process.execPath, [MAIN, 'version', '--node-labels', file], { encoding: 'utf8' });
  t.not(bad.status, 0, '--node-labels only with check');
  t.match(bad.stderr, '--node-labels');
});
