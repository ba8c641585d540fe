// StartContainer's host side: the container's VM built from the pod and
// container records and prepared with its vCPUs stopped, so that the caller
// can connect the console pump before the firmware prints anything. Both
// steps are undone by the caller's Steps if a later one fails.

import { join } from 'node:path';
import { cgroupVersion } from '../../host/facts';
import { ownOomScoreAdj, vmCgroupLayout, vmCgroupPaths, vmOomScoreAdj } from '../../host/vm-cgroup';
import type { VmHandle } from '../../hypervisor';
import type { ContainerHandle, SandboxHandle } from '../controller';
import { makeVmRunDir, removeVmRunDir } from '../microvm/run-dir';
import type { Steps } from '../steps';
import { decodeVmImageContainerData, decodeVmImagePodData, type VmImageContainerData, type VmImagePodData } from './data';
import { containerRunPaths, vmImagePodPaths, type ContainerRunPaths } from './layout';
import { OVERLAY_FILE } from './overlay';
import type { VmImageEnv } from './pod';
import { vmImageVmConfig } from './vm';

export interface PreparedVm {
  vm: VmHandle;
  run: ContainerRunPaths;
  pod: VmImagePodData;
  data: VmImageContainerData;
}

/** The run dir, then QEMU prepared (paused) in the pod's VM cgroup with the pod's oom_score_adj. */
export async function prepareContainerVm(env: VmImageEnv, sb: SandboxHandle, c: ContainerHandle, steps: Steps): Promise<PreparedVm> {
  const pod = decodeVmImagePodData(sb.data, sb.id);
  const data = decodeVmImageContainerData(c.data, c.id);
  const paths = vmImagePodPaths(env.state, sb.id);
  const run = containerRunPaths(env.state, c.id);
  const cgroup = vmCgroupLayout(vmCgroupPaths(sb.config.linux?.cgroup_parent ?? '', sb.id), cgroupVersion());
  const oom = vmOomScoreAdj(Number(sb.config.linux?.resources?.oom_score_adj ?? 0), ownOomScoreAdj());
  const config = vmImageVmConfig({
    containerId: c.id,
    run,
    pod,
    container: data,
    overlay: join(paths.dir, OVERLAY_FILE),
    cidata: paths.cidata,
    tcgTbSizeMib: env.cfg.tcg_tb_size_mib,
    placement: { cgroupProcs: cgroup.procsFiles, oomScoreAdj: oom.value },
  });
  await steps.run(
    'run-dir',
    () => makeVmRunDir(run),
    () => removeVmRunDir(env.hypervisor, run),
  );
  const vm = await steps.run(
    'qemu-prepare',
    () => env.hypervisor.prepare(config),
    async (h) => {
      await h.stop({ gracefulTimeoutMs: 0, quitTimeoutMs: 2000 });
    },
  );
  return { vm, run, pod, data };
}
