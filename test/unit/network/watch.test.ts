import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { silentLogger } from '../../../src/log';
import type { NetworkStatus } from '../../../src/network/types';
import { CniConfigWatcher, NETWORK_NOT_READY_REASON } from '../../../src/network/watch';

t.test('NetworkReady flips when a config appears and back when it goes', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-cniwatch-'));
  const confDir = join(dir, 'net.d'); // does not exist yet: start() creates it
  const w = new CniConfigWatcher({ confDir, logger: silentLogger, rescanMs: 200 });
  t.teardown(() => {
    w.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const s0 = w.networkStatus();
  t.equal(s0.ready, false, 'not ready without a config');
  t.equal(s0.reason, NETWORK_NOT_READY_REASON, 'with the reason kubelet knows');
  t.match(s0.message, /NoCNIConfig/, 'message says why');
  w.start();

  // The watcher keeps no event-loop reference (the daemon's server does); the timer here does, and bounds the wait.
  const next = () =>
    new Promise<NetworkStatus>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no NetworkReady change within 10 s')), 10_000);
      w.once('change', (s: NetworkStatus) => {
        clearTimeout(timer);
        resolve(s);
      });
    });
  let changed = next();
  // Written aside and renamed in, so no scan sees a half-written file.
  writeFileSync(join(confDir, '.10-test.tmp'), JSON.stringify({ cniVersion: '1.0.0', name: 'watched', plugins: [{ type: 'bridge' }] }));
  renameSync(join(confDir, '.10-test.tmp'), join(confDir, '10-test.conflist'));
  const s1 = await changed;
  t.equal(s1.ready, true, 'ready once the config is written');
  t.match(s1.message, /watched/, 'message names the network');
  t.same(w.networkStatus(), s1, 'networkStatus() agrees with the event');

  changed = next();
  rmSync(join(confDir, '10-test.conflist'));
  t.equal((await changed).ready, false, 'not ready again once removed');
});
