// A netns pin dir that is not the daemon's own (a VM pool's) goes with its
// owner: releasePinDir unmounts the dir's shared bind mount, with any pin
// still under it, and removes the dir once empty. critest with a pooled
// handler found the pool's pin dir still mounted after the daemon stopped.

import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { createNetns, deleteNetns, isMounted, releasePinDir } from '../../src/network/netns';

t.test('releasePinDir unmounts the pin dir (and a pin left in it), removes it when empty, and may run twice', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-pindir-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const pins = join(dir, 'netns');
  await createNetns(join(pins, 'a'));
  await createNetns(join(pins, 'b'));
  t.teardown(() => Promise.all([deleteNetns(join(pins, 'a')), deleteNetns(join(pins, 'b'))]).then(() => undefined));
  t.ok(isMounted(pins) && isMounted(join(pins, 'a')), 'the pin dir is a bind mount with the pins in it');

  await deleteNetns(join(pins, 'b'));
  await releasePinDir(pins);
  t.notOk(isMounted(pins), 'the pin dir is no longer mounted');
  t.notOk(isMounted(join(pins, 'a')), 'nor is the pin left in it (detached with its parent)');
  t.ok(existsSync(join(pins, 'a')), 'the left pin file keeps the dir (a later start removes it)');

  await deleteNetns(join(pins, 'a'));
  await releasePinDir(pins);
  t.notOk(existsSync(pins), 'an empty dir is removed');
  await releasePinDir(pins);
  t.pass('releasing a dir that is gone is fine');
});
