// A pod network setup whose ADD fails is undone; when the DEL of that undo
// fails too (found by the CRI fuzzer: portmap refused container_port 0 on ADD
// and again on DEL), the netns pin must not stay mounted: no StopPodSandbox
// will come for a pod that was never created, and start-up reconciliation
// would retry a DEL that keeps failing.

import t from 'tap';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { silentLogger } from '../../../src/log';
import { PodNetwork } from '../../../src/network';
import { isMounted } from '../../../src/network/netns';

const POD = 'f'.repeat(64);

t.test('ADD and DEL both fail: setup rejects, the pin is unmounted and removed, the cache entry gone', { skip: process.getuid?.() === 0 ? false : 'pinning a netns needs root' }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-undo-setup-'));
  const state = join(dir, 'state');
  const pin = join(state, 'netns', POD);
  t.teardown(() => {
    // The pin dir is a shared bind mount of itself (netns.ts), and a failed run may leave the pin mounted too.
    for (const m of [pin, dirname(pin)]) if (isMounted(m)) execFileSync('umount', ['--lazy', m]);
    rmSync(dir, { recursive: true, force: true });
  });
  const bin = join(dir, 'bin');
  const conf = join(dir, 'conf');
  const seen = join(dir, 'seen');
  mkdirSync(bin);
  mkdirSync(conf);
  writeFileSync(join(bin, 'refuse'), `#!/bin/sh\necho "$CNI_COMMAND" >> ${seen}\necho '{"cniVersion":"1.0.0","code":999,"msg":"refused"}'\nexit 1\n`);
  chmodSync(join(bin, 'refuse'), 0o755);
  writeFileSync(join(conf, '10-refuse.conflist'), JSON.stringify({ cniVersion: '1.0.0', name: 'refusing', plugins: [{ type: 'refuse' }] }));
  const net = new PodNetwork({ config: { cni_conf_dir: conf, cni_bin_dirs: [bin], plugin_timeout_s: 10 }, root: join(dir, 'root'), state, logger: silentLogger });
  await t.rejects(net.setup({ id: POD, name: 'p', namespace: 'n', uid: 'u', hostNetwork: false, portMappings: [] }), /refused/, "ADD's error reaches the caller");
  t.equal(readFileSync(seen, 'utf8'), 'ADD\nDEL\n', 'the undo ran DEL');
  t.notOk(isMounted(pin), 'the netns pin is not mounted');
  t.notOk(existsSync(pin), 'and the pin file is gone');
  t.same(net.cachedPods(), [], 'no cache entry is left for start-up to retry');
});
