// Root and state are made 0700 (issue 15), but a dir that is not vmpod's own
// (root or state set to /run or /var/lib) must not be chmodded under the
// host's other users: only a new, empty, or earlier-vmpod (0711) dir is.

import t from 'tap';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { makePrivateDir } from '../../../src/daemon/run';

const modeOf = (p: string): number => statSync(p).mode & 0o7777;

t.test('new, empty and 0711 dirs become 0700; a shared dir with files is left alone, with a warning', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-private-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const warnings: string[] = [];
  const log = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(line) });

  makePrivateDir(join(dir, 'new/state'), log);
  t.equal(modeOf(join(dir, 'new/state')), 0o700, 'a new dir');

  const empty = join(dir, 'empty');
  mkdirSync(empty);
  chmodSync(empty, 0o755);
  makePrivateDir(empty, log);
  t.equal(modeOf(empty), 0o700, 'an empty 0755 dir');

  const earlier = join(dir, 'earlier');
  mkdirSync(earlier);
  chmodSync(earlier, 0o711);
  writeFileSync(join(earlier, 'vmpod.lock'), '');
  makePrivateDir(earlier, log);
  t.equal(modeOf(earlier), 0o700, 'what an earlier vmpod made (0711)');
  t.same(warnings, [], 'no warning so far');

  const shared = join(dir, 'shared');
  mkdirSync(shared);
  chmodSync(shared, 0o755);
  writeFileSync(join(shared, 'someone-elses'), '');
  makePrivateDir(shared, log);
  t.equal(modeOf(shared), 0o755, 'a dir with files of others keeps its mode');
  t.equal(warnings.length, 1, 'and the daemon says so');
  t.match(warnings[0], /not private/);
});
