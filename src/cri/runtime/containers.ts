// Container RPCs: validate the request, call the PodService, convert.

import type { CheckpointContainerRequest__Output } from '../../generated/cri/runtime/v1/CheckpointContainerRequest';
import type { ContainerStatusRequest__Output } from '../../generated/cri/runtime/v1/ContainerStatusRequest';
import type { CreateContainerRequest__Output } from '../../generated/cri/runtime/v1/CreateContainerRequest';
import type { ListContainersRequest__Output } from '../../generated/cri/runtime/v1/ListContainersRequest';
import type { RemoveContainerRequest__Output } from '../../generated/cri/runtime/v1/RemoveContainerRequest';
import type { ReopenContainerLogRequest__Output } from '../../generated/cri/runtime/v1/ReopenContainerLogRequest';
import type { StartContainerRequest__Output } from '../../generated/cri/runtime/v1/StartContainerRequest';
import type { StopContainerRequest__Output } from '../../generated/cri/runtime/v1/StopContainerRequest';
import type { UpdateContainerResourcesRequest__Output } from '../../generated/cri/runtime/v1/UpdateContainerResourcesRequest';
import { checkpointOptions } from '../../pods/checkpoint';
import type { PodService } from '../../pods/service';
import type { HandlerTable } from '../handler';
import { int64, requireObject, requireString } from '../validate';
import { validateContainerConfig } from '../validate-config';
import { validateResources } from '../validate-resources';
import { MessageCache } from './message-cache';
import { toCriContainer, toCriContainerStatus } from './to-cri';

const id = (req: { container_id: string }): string => requireString(req.container_id, 'container_id');

export function containerHandlers(pods: PodService): HandlerTable {
  const listed = new MessageCache(toCriContainer);
  const statuses = new MessageCache(toCriContainerStatus);
  return {
    CreateContainer: async (req: CreateContainerRequest__Output) => {
      const podId = requireString(req.pod_sandbox_id, 'pod_sandbox_id');
      const config = requireObject(req.config, 'config');
      validateContainerConfig(config);
      return { container_id: await pods.createContainer(podId, config) };
    },
    StartContainer: async (req: StartContainerRequest__Output) => {
      await pods.startContainer(id(req));
      return {};
    },
    // CRI: StopContainer on a container that is already gone succeeds (the service's rule).
    StopContainer: async (req: StopContainerRequest__Output) => {
      await pods.stopContainer(id(req), Number(int64(req.timeout || '0', 'timeout')));
      return {};
    },
    // CRI: RemoveContainer must not return an error if the container has already been removed (the service's rule).
    RemoveContainer: async (req: RemoveContainerRequest__Output) => {
      await pods.removeContainer(id(req));
      return {};
    },
    ContainerStatus: async (req: ContainerStatusRequest__Output) => {
      const s = await pods.containerStatus(id(req), req.verbose);
      const c = s.container;
      const info: Record<string, string> = {};
      // pid and sandboxID are where containerd and CRI-O put them (crictl inspect templates and node agents read them).
      if (s.description) info.info = JSON.stringify({ ...s.description, sandboxID: c.podSandboxId, sandboxId: c.podSandboxId, rootfs: c.rootfs, stopSignal: c.stopSignal, config: c.config });
      return { status: statuses.of(c), info };
    },
    ListContainers: async (req: ListContainersRequest__Output) => {
      const f = req.filter;
      const items = await pods.listContainers(f ? { id: f.id, podSandboxId: f.pod_sandbox_id, state: f.state?.state, labels: f.label_selector } : undefined);
      return { containers: items.map((c) => listed.of(c)) };
    },
    UpdateContainerResources: async (req: UpdateContainerResourcesRequest__Output) => {
      const cid = id(req);
      const linux = requireObject(req.linux, 'linux');
      validateResources(linux, 'linux');
      await pods.updateContainer(cid, linux);
      return {};
    },
    ReopenContainerLog: async (req: ReopenContainerLogRequest__Output) => {
      await pods.reopenContainerLog(id(req));
      return {};
    },
    CheckpointContainer: async (req: CheckpointContainerRequest__Output) => {
      const cid = id(req);
      await pods.checkpointContainer(cid, checkpointOptions(req.location, Number(int64(req.timeout || '0', 'timeout'))));
      return {};
    },
  };
}
