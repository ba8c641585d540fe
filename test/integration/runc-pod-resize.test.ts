// UpdatePodSandboxResources of a runc pod, on the controller with real runc:
// the pod's cgroup parent (vmpod's /vmpod/<id> for a pod without a
// cgroup_parent) gets the pod's CPU shares, quota and memory limit, and can
// lift them; a memory limit below what the pod uses now is refused with
// FAILED_PRECONDITION naming the pod and changes nothing; a container's own
// update (growOnly) leaves the pod cgroup alone.

import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FailedPreconditionError } from '../../common/errors';
import type { LinuxContainerResources__Output } from '../../src/generated/cri/runtime/v1/LinuxContainerResources';
import { cgroupDirs } from '../../src/sandbox/runc/cgroup-stats';
import { decodeSandboxData } from '../../src/sandbox/runc/data';
import { RuncFixture, runcMissing } from '../helpers/runc-fixture';

for (const what of runcMissing()) t.fail(`missing component: ${what}`);

const MIB = 1024 * 1024;
const w = new RuncFixture('vmpod-rresize-', { applets: ['sh', 'sleep'], passwd: 'root:x:0:0:root:/root:/bin/sh\n', group: 'root:x:0:\n' });
const { ctl, log, host } = w;
t.teardown(() => w.dispose());

const res = (over: Partial<LinuxContainerResources__Output>): LinuxContainerResources__Output => ({
  cpu_period: '0',
  cpu_quota: '0',
  cpu_shares: '0',
  memory_limit_in_bytes: '0',
  oom_score_adj: '0',
  cpuset_cpus: '',
  cpuset_mems: '',
  hugepage_limits: [],
  unified: {},
  memory_swap_limit_in_bytes: '0',
  ...over,
});

t.test('the pod cgroup follows UpdatePodSandboxResources', async (t) => {
  const podId = `rrpod${process.pid}`;
  const sb = await w.createPod(podId, w.podConfig('resizepod'), 'resizepod');
  const parent = decodeSandboxData(sb.data, podId).cgroupParent;
  t.equal(parent, `/vmpod/${podId}`, "a pod without cgroup_parent gets vmpod's own");
  const v2 = host.cgroupVersion === 2;
  const dirs = cgroupDirs(parent, host.cgroupVersion);
  // v1: the file's own hierarchy (memory.* under memory/, cpu.* under cpu/).
  const dirOf = (file: string): string => (v2 ? dirs[0] : (dirs.find((d) => d.includes(`/${file.split('.')[0]}/`)) ?? dirs[0]));
  const read = (file: string): string => readFileSync(join(dirOf(file), file), 'utf8').trim();
  const update = (...a: Parameters<typeof ctl.updateSandboxResources>): Promise<void> => ctl.updateSandboxResources(...a);

  await update(sb, { resources: res({ cpu_shares: '512', cpu_quota: '50000', cpu_period: '100000', memory_limit_in_bytes: String(256 * MIB) }), overhead: null }, log);
  if (v2) {
    t.equal(read('cpu.max'), '50000 100000', 'cpu.max set');
    t.equal(read('memory.max'), String(256 * MIB), 'memory.max set');
    t.equal(read('cpu.weight'), '20', 'shares as weight');
  } else {
    t.equal(read('cpu.cfs_quota_us'), '50000', 'quota set');
    t.equal(read('cpu.cfs_period_us'), '100000', 'period set');
    t.equal(read('cpu.shares'), '512', 'shares set');
    t.equal(read('memory.limit_in_bytes'), String(256 * MIB), 'memory limit set');
  }

  // The infra process alone uses more than a page: a limit of one page is below the pod's use.
  const usage = Number(read(v2 ? 'memory.current' : 'memory.usage_in_bytes'));
  t.ok(usage > 0, `the pod uses ${usage} bytes`);
  await t.rejects(update(sb, { resources: res({ memory_limit_in_bytes: '4096' }), overhead: null }, log), FailedPreconditionError, 'below use: refused');
  await t.rejects(update(sb, { resources: res({ memory_limit_in_bytes: '4096' }), overhead: null }, log), { message: new RegExp(`pod sandbox ${podId}.*memory limit 4096 bytes is below`) });
  t.equal(read(v2 ? 'memory.max' : 'memory.limit_in_bytes'), String(256 * MIB), 'and nothing changed');

  // growOnly (a container's own update) leaves the pod cgroup as it is.
  await update(sb, { resources: res({ memory_limit_in_bytes: String(512 * MIB) }), overhead: null, growOnly: true }, log);
  t.equal(read(v2 ? 'memory.max' : 'memory.limit_in_bytes'), String(256 * MIB), 'growOnly: untouched');

  // No limits: lifted.
  await update(sb, { resources: res({}), overhead: null }, log);
  if (v2) {
    t.equal(read('cpu.max').split(' ')[0], 'max', 'quota lifted');
    t.equal(read('memory.max'), 'max', 'memory lifted');
  } else {
    t.equal(read('cpu.cfs_quota_us'), '-1', 'quota lifted');
    t.ok(Number(read('memory.limit_in_bytes')) > 1024 * 1024 * MIB, 'memory lifted');
  }
});
