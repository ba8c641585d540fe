// The pod and container lifecycle part of the RuntimeService, keyed by RPC
// name; the daemon merges it with daemonHandlers() from ./index.

import type { HandlerTable } from '../handler';
import type { RuntimeDeps } from './deps';
import { runPodSandbox } from './sandbox-run';
import { stopPodSandbox } from './sandbox-stop';
import { removePodSandbox } from './sandbox-remove';
import { podSandboxStatus } from './sandbox-status';
import { listPodSandbox } from './sandbox-list';
import { createContainerHandler } from './container-create';
import { startContainerHandler } from './container-start';
import { stopContainerHandler } from './container-stop';
import { removeContainerHandler } from './container-remove';
import { listContainers } from './container-list';
import { containerStatus } from './container-status';
import { updateContainerResources } from './container-update';
import { reopenContainerLog } from './container-reopen-log';
import { execSyncHandler } from './exec-sync';
import { containerStatsHandler } from './stats-container';
import { listContainerStats } from './stats-container-list';
import { podSandboxStatsHandler } from './stats-pod';
import { listPodSandboxStats } from './stats-pod-list';
import { listMetricDescriptors } from './stats-metric-descriptors';
import { listPodSandboxMetrics } from './stats-pod-metrics';

export function lifecycleHandlers(deps: RuntimeDeps): HandlerTable {
  return {
    RunPodSandbox: runPodSandbox(deps),
    StopPodSandbox: stopPodSandbox(deps),
    RemovePodSandbox: removePodSandbox(deps),
    PodSandboxStatus: podSandboxStatus(deps),
    ListPodSandbox: listPodSandbox(deps),
    CreateContainer: createContainerHandler(deps),
    StartContainer: startContainerHandler(deps),
    StopContainer: stopContainerHandler(deps),
    RemoveContainer: removeContainerHandler(deps),
    ListContainers: listContainers(deps),
    ContainerStatus: containerStatus(deps),
    UpdateContainerResources: updateContainerResources(deps),
    ReopenContainerLog: reopenContainerLog(deps),
    ExecSync: execSyncHandler(deps),
    ContainerStats: containerStatsHandler(deps),
    ListContainerStats: listContainerStats(deps),
    PodSandboxStats: podSandboxStatsHandler(deps),
    ListPodSandboxStats: listPodSandboxStats(deps),
    ListMetricDescriptors: listMetricDescriptors(),
    ListPodSandboxMetrics: listPodSandboxMetrics(deps),
  };
}
