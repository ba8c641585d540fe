import t from 'tap';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findVirtioPort } from '../../../agent/src/channel';

t.test('the agent port is found by its sysfs name', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-vports-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const [port, name] of [
    ['vport0p0', 'org.qemu.guest_agent.0'],
    ['vport0p1', 'vmpod.agent'],
    ['vport1p1', ''],
  ]) {
    mkdirSync(join(dir, port));
    writeFileSync(join(dir, port, 'name'), `${name}\n`);
  }
  mkdirSync(join(dir, 'vport2p1')); // no name file: skipped
  const cases = [
    { desc: 'named port', name: 'vmpod.agent', want: 'vport0p1' },
    { desc: 'absent name', name: 'nope', want: undefined },
  ];
  for (const c of cases) t.equal(await findVirtioPort(dir, c.name), c.want, c.desc);
  t.equal(await findVirtioPort(join(dir, 'missing'), 'vmpod.agent'), undefined, 'no sysfs dir');
});
