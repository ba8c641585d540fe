// A daemon SIGKILLed in RemovePodSandbox between unmounting a pod's netns pin
// and deleting the pin file (found by the fault-injection harness, test/fault)
// left a plain file where the netns was, and its CNI cache entry. Every later
// teardown ran DEL with that file as CNI_NETNS; the bridge plugin refuses it
// ("unknown FS magic"), so the pod could never be removed. A pin that is not
// a mount is a netns that is gone: DEL runs without one, as the spec allows.

import t from 'tap';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../../src/log';
import { PodNetwork } from '../../../src/network';
import { CniCache } from '../../../src/network/cni-cache';

const POD = 'e'.repeat(64);

t.test('teardown with a pin file that is no longer mounted runs DEL without a netns and removes pin and cache', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-stale-pin-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const bin = join(dir, 'bin');
  const seen = join(dir, 'seen');
  mkdirSync(bin);
  // A plugin that records the command and netns it was given, and fails on a netns that is not one (as bridge does).
  writeFileSync(
    join(bin, 'fake'),
    `#!/bin/sh\necho "$CNI_COMMAND netns=[$CNI_NETNS]" >> ${seen}\nif [ -n "$CNI_NETNS" ]; then echo '{"cniVersion":"1.0.0","code":999,"msg":"unknown FS magic"}'; exit 1; fi\n`,
  );
  chmodSync(join(bin, 'fake'), 0o755);
  const root = join(dir, 'root');
  const state = join(dir, 'state');
  const pin = join(state, 'netns', POD);
  mkdirSync(join(state, 'netns'), { recursive: true });
  writeFileSync(pin, ''); // what an unmounted pin leaves: an empty regular file
  new CniCache(join(root, 'network')).save({
    version: 1,
    podId: POD,
    netnsPath: pin,
    ifName: 'eth0',
    args: '',
    config: { cniVersion: '1.0.0', name: 'n', plugins: [{ type: 'fake' }] },
    runtimeConfig: {},
    result: { cniVersion: '1.0.0', interfaces: [], ips: [] },
  });
  const net = new PodNetwork({ config: { cni_conf_dir: join(dir, 'conf'), cni_bin_dirs: [bin], plugin_timeout_s: 10 }, root, state, logger: silentLogger });
  await net.teardown(POD);
  t.equal(readFileSync(seen, 'utf8'), 'DEL netns=[]\n', 'DEL ran once, without the stale pin as its netns');
  t.notOk(existsSync(pin), 'the pin file is gone');
  t.same(net.cachedPods(), [], 'and so is the cache entry');
});
