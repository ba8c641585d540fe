// Tests and benches start the daemon with the node options of the systemd
// unit (test/helpers/daemon.ts reads them from its ExecStart line), so what
// they measure is the daemon as installed; `npm start` must use the same.

import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UNIT, unitNodeFlags } from '../../helpers/daemon';

const ROOT = join(__dirname, '..', '..', '..', '..');

t.test('the options between node and main.js on the ExecStart line', async (t) => {
  const unit = (exec: string) => `[Unit]\nDescription=x\n\n[Service]\n# ExecStart=/usr/bin/node --commented /x/dist/src/main.js\nExecStart=${exec}\nRestart=always\n`;
  t.same(unitNodeFlags(unit('/usr/bin/node --a=1 --b /opt/vmpod/dist/src/main.js serve --config /etc/vmpod/vmpod.toml')), ['--a=1', '--b']);
  t.same(unitNodeFlags(unit('/usr/bin/node /opt/vmpod/dist/src/main.js serve')), [], 'none');
  t.throws(() => unitNodeFlags(unit('/usr/bin/vmpod serve')), /ExecStart does not run <node> \[options\] \.\.\.\/dist\/src\/main\.js/, 'not node and main.js');
  t.throws(() => unitNodeFlags('[Service]\nType=simple\n'), /no ExecStart/);
});

t.test("the repository's unit and npm start run the daemon with the same node options", async (t) => {
  const flags = unitNodeFlags(readFileSync(UNIT, 'utf8'));
  t.ok(flags.length > 0 && flags.every((f) => f.startsWith('--')), `the unit sets node options: ${flags.join(' ')}`);
  const start = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts.start;
  t.ok(start.includes(`node ${flags.join(' ')} dist/src/main.js serve`), `npm start (${start}) passes them`);
});
