// guest-image/kernel/check-config.js: the build's check that the guest
// kernel's .config holds every option the fragments ask for (Kconfig drops
// an option whose dependencies are off without a word).

import t from 'tap';
import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const REPO = resolve(__dirname, '../../../..');
const SCRIPT = join(REPO, 'guest-image/kernel/check-config.js');
const { parseConfig, differences } = createRequire(__filename)(SCRIPT) as {
  parseConfig: (text: string) => Map<string, string>;
  differences: (wanted: Map<string, string>, got: Map<string, string>) => string[];
};

t.test('parseConfig reads set, unset and string options', async (t) => {
  const c = parseConfig('CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C=m\nCONFIG_D="x y"\nCONFIG_E=n\n# a comment\n');
  t.same(
    [...c],
    [
      ['CONFIG_A', 'y'],
      ['CONFIG_B', 'n'],
      ['CONFIG_C', 'm'],
      ['CONFIG_D', '"x y"'],
      ['CONFIG_E', 'n'],
    ],
  );
});

t.test('differences: an option missing from the .config is off', async (t) => {
  const wanted = parseConfig('CONFIG_A=y\nCONFIG_B=m\n# CONFIG_C is not set\nCONFIG_D=64\n');
  const got = parseConfig('CONFIG_A=y\nCONFIG_D=1\nCONFIG_C=y\n');
  t.same(differences(wanted, got), ['CONFIG_B: asked m, got n', 'CONFIG_C: asked n, got y', 'CONFIG_D: asked 64, got 1']);
  t.same(differences(parseConfig('# CONFIG_X is not set\n'), parseConfig('')), [], 'asked off, absent: fine');
});

t.test('the script names the option and the fragment, and fails', async (t) => {
  const d = mkdtempSync(join(tmpdir(), 'vmpod-kconfig-'));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  writeFileSync(join(d, '.config'), 'CONFIG_A=y\nCONFIG_B=y\n');
  writeFileSync(join(d, 'one.config'), 'CONFIG_A=y\n');
  writeFileSync(join(d, 'two.config'), 'CONFIG_B=m\n');
  execFileSync(process.execPath, [SCRIPT, join(d, '.config'), join(d, 'one.config')]);
  t.pass('a .config that holds the fragment passes');
  let err = '';
  let status = 0;
  try {
    execFileSync(process.execPath, [SCRIPT, join(d, '.config'), join(d, 'one.config'), join(d, 'two.config')], { stdio: 'pipe' });
  } catch (e) {
    const x = e as { status: number; stderr: Buffer };
    status = x.status;
    err = x.stderr.toString();
  }
  t.equal(status, 1);
  t.match(err, `CONFIG_B: asked m, got y (${join(d, 'two.config')})`);
});

t.test('the fragments do not contradict each other', async (t) => {
  const dir = join(REPO, 'guest-image/kernel');
  const a = parseConfig(readFileSync(join(dir, 'vmpod.config'), 'utf8'));
  const b = parseConfig(readFileSync(join(dir, 'netfilter-and-tc.config'), 'utf8'));
  const clash = [...a].filter(([k, v]) => b.has(k) && b.get(k) !== v).map(([k]) => k);
  t.same(clash, [], 'no option is asked two ways');
  t.equal(a.get('CONFIG_MODPROBE_PATH'), '"/sbin/modprobe"', 'the kernel runs the rootfs modprobe for modules on demand');
  t.equal(a.get('CONFIG_MODULES'), 'y');
});
