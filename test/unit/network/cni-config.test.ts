import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { candidateFiles, loadCniConfig, parseCniConfig } from '../../../src/network/cni-config';

t.test('candidateFiles', async (t) => {
  const cases: { desc: string; names: string[]; want: string[] }[] = [
    { desc: 'lexical order, all three extensions', names: ['20-b.conf', '10-a.conflist', '05-z.json'], want: ['05-z.json', '10-a.conflist', '20-b.conf'] },
    { desc: 'other extensions and hidden files ignored', names: ['README', 'x.conf.bak', '.10-hidden.conflist', '99.conf'], want: ['99.conf'] },
    { desc: 'empty dir', names: [], want: [] },
  ];
  for (const c of cases) t.same(candidateFiles(c.names), c.want, c.desc);
});

t.test('parseCniConfig accepts', async (t) => {
  const list = parseCniConfig('/d/10.conflist', JSON.stringify({ cniVersion: '1.0.0', name: 'n', plugins: [{ type: 'bridge' }, { type: 'portmap', capabilities: { portMappings: true } }] }));
  t.same(
    list.plugins.map((p) => p.type),
    ['bridge', 'portmap'],
    'a conflist keeps its plugins in order',
  );
  t.equal(list.disableCheck, false, 'disableCheck defaults to false');
  const wrapped = parseCniConfig('/d/10.conf', JSON.stringify({ cniVersion: '0.4.0', name: 'single', type: 'bridge', bridge: 'cni0' }));
  t.same(wrapped, { cniVersion: '0.4.0', name: 'single', plugins: [{ cniVersion: '0.4.0', name: 'single', type: 'bridge', bridge: 'cni0' }] }, 'a .conf is wrapped into a one-plugin list');
});

t.test('parseCniConfig rejects, naming the file and the problem', async (t) => {
  const cases: { desc: string; file: string; text: string; err: RegExp }[] = [
    { desc: 'not JSON', file: 'a.conflist', text: '{', err: /a\.conflist: not valid JSON/ },
    { desc: 'array at top', file: 'a.conflist', text: '[]', err: /top level is not a JSON object/ },
    { desc: 'no cniVersion', file: 'a.conflist', text: '{"name":"n","plugins":[{"type":"x"}]}', err: /cniVersion/ },
    { desc: 'no name', file: 'a.conflist', text: '{"cniVersion":"1.0.0","plugins":[{"type":"x"}]}', err: /name must be/ },
    { desc: 'empty plugins', file: 'a.conflist', text: '{"cniVersion":"1.0.0","name":"n","plugins":[]}', err: /plugins must be a non-empty array/ },
    { desc: 'plugin without type', file: 'a.conflist', text: '{"cniVersion":"1.0.0","name":"n","plugins":[{}]}', err: /plugins\[0\]\.type/ },
    { desc: 'type with a path', file: 'a.conflist', text: '{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"../../bin/sh"}]}', err: /plain file name/ },
    { desc: '.conf without type', file: 'a.conf', text: '{"cniVersion":"1.0.0","name":"n"}', err: /config\.type/ },
    { desc: 'capabilities not an object', file: 'a.conflist', text: '{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"x","capabilities":true}]}', err: /capabilities/ },
  ];
  for (const c of cases) t.throws(() => parseCniConfig(c.file, c.text), { message: c.err }, c.desc);
});

t.test('loadCniConfig picks the first valid file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-cniconf-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const none = loadCniConfig(dir);
  t.same(none.ok ? 'ok' : none.reason, 'NoCNIConfig', 'empty dir: no config');
  writeFileSync(join(dir, '05-broken.conflist'), '{');
  const bad = loadCniConfig(dir);
  t.same(bad.ok ? 'ok' : bad.reason, 'InvalidCNIConfig', 'only an invalid file: invalid');
  writeFileSync(join(dir, '20-second.conflist'), JSON.stringify({ cniVersion: '1.0.0', name: 'second', plugins: [{ type: 'bridge' }] }));
  writeFileSync(join(dir, '10-first.conf'), JSON.stringify({ cniVersion: '1.0.0', name: 'first', type: 'ptp' }));
  const good = loadCniConfig(dir);
  t.equal(good.ok && good.config.name, 'first', 'lexically first valid file wins, skipping the broken one');
  const missing = loadCniConfig(join(dir, 'nope'));
  t.same(missing.ok ? 'ok' : missing.reason, 'NoCNIConfig', 'missing dir: no config');
});
