// vmpod as the benches start it: the daemon as users start it, in the
// bench's work dir, on its own CNI bridge network, pulling from the bench's
// insecure registry, logging at info (as containerd does in the
// comparisons: each state-changing call, not every List).

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startDaemon, type TestDaemon } from '../../test/helpers/daemon';
import type { Cleanup } from './cleanup';
import { benchNetwork, writeConflist } from './cni';

export const CNI_BIN_DIR = '/usr/lib/cni';

/** Start vmpod under <work>/vmpod with its conflist in <work>/cni-vmpod; stopped by `cleanup`. `extraConfig` is TOML appended (e.g. a [runtime.handlers.vm] table). */
export function startBenchVmpod(cleanup: Cleanup, work: string, registryHost: string, extraConfig = ''): Promise<TestDaemon> {
  const cni = writeConflist(join(work, 'cni-vmpod'), benchNetwork('vmpod-bench', 'vbench-vmpod0', 1));
  const config = [`[registries."${registryHost}"]`, 'insecure = true', '', '[network]', `cni_conf_dir = "${cni}"`, `cni_bin_dirs = ["${CNI_BIN_DIR}"]`, extraConfig].join('\n');
  mkdirSync(join(work, 'vmpod'));
  return startDaemon(cleanup, { dir: join(work, 'vmpod'), config, extraArgs: ['--log-level', 'info'] });
}
