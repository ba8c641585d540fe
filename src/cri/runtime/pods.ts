// Pod sandbox RPCs: validate the request, call the PodService, convert.

import type { ListPodSandboxRequest__Output } from '../../generated/cri/runtime/v1/ListPodSandboxRequest';
import type { PodSandboxStatusRequest__Output } from '../../generated/cri/runtime/v1/PodSandboxStatusRequest';
import type { RemovePodSandboxRequest__Output } from '../../generated/cri/runtime/v1/RemovePodSandboxRequest';
import type { RunPodSandboxRequest__Output } from '../../generated/cri/runtime/v1/RunPodSandboxRequest';
import type { UpdatePodSandboxResourcesRequest__Output } from '../../generated/cri/runtime/v1/UpdatePodSandboxResourcesRequest';
import type { StopPodSandboxRequest__Output } from '../../generated/cri/runtime/v1/StopPodSandboxRequest';
import type { PodService } from '../../pods/service';
import { nowNs } from '../../../common/time';
import type { HandlerTable } from '../handler';
import { requireObject, requireString } from '../validate';
import { validatePodConfig } from '../validate-config';
import { validateResources } from '../validate-resources';
import { MessageCache } from './message-cache';
import { toCriContainerStatus, toCriPodSandbox, toCriPodSandboxStatus } from './to-cri';

export function podHandlers(pods: PodService): HandlerTable {
  const listed = new MessageCache(toCriPodSandbox);
  return {
    RunPodSandbox: async (req: RunPodSandboxRequest__Output, ctx) => {
      const config = requireObject(req.config, 'config');
      validatePodConfig(config);
      return { pod_sandbox_id: await pods.runPod(config, req.runtime_handler, ctx.log) };
    },
    // CRI: StopPodSandbox is idempotent and must not fail when the pod is already gone (the service's rule).
    StopPodSandbox: async (req: StopPodSandboxRequest__Output) => {
      await pods.stopPod(requireString(req.pod_sandbox_id, 'pod_sandbox_id'));
      return {};
    },
    // CRI: RemovePodSandbox must not return an error if the sandbox has already been removed (the service's rule).
    RemovePodSandbox: async (req: RemovePodSandboxRequest__Output) => {
      await pods.removePod(requireString(req.pod_sandbox_id, 'pod_sandbox_id'));
      return {};
    },
    PodSandboxStatus: async (req: PodSandboxStatusRequest__Output) => {
      const s = await pods.podStatus(requireString(req.pod_sandbox_id, 'pod_sandbox_id'), req.verbose);
      const p = s.pod;
      const info: Record<string, string> = {};
      if (s.description) info.info = JSON.stringify({ ...s.description, handler: p.handler, routeReason: p.routeReason, netnsPath: p.netnsPath, hostname: p.hostname });
      // CRI: nanoseconds; kubelet's evented PLEG compares it with event times in ns (cri-o#8580).
      return { status: toCriPodSandboxStatus(p), info, containers_statuses: s.containers.map(toCriContainerStatus), timestamp: nowNs() };
    },
    // CRI: the pod's resources as a whole (overhead, and the sum of its containers'); docs/resize.md.
    UpdatePodSandboxResources: async (req: UpdatePodSandboxResourcesRequest__Output) => {
      const podId = requireString(req.pod_sandbox_id, 'pod_sandbox_id');
      if (req.resources) validateResources(req.resources, 'resources');
      if (req.overhead) validateResources(req.overhead, 'overhead');
      await pods.updatePodResources(podId, req.resources ?? null, req.overhead ?? null);
      return {};
    },
    ListPodSandbox: async (req: ListPodSandboxRequest__Output) => {
      const f = req.filter;
      const items = await pods.listPods(f ? { id: f.id, state: f.state?.state, labels: f.label_selector } : undefined);
      return { items: items.map((p) => listed.of(p)) };
    },
  };
}
