// GetContainerEvents (kubelet's evented PLEG): a server stream of the pod
// domain's lifecycle events (src/pods/events.ts), converted with the same
// status converters as ContainerStatus and PodSandboxStatus. The stream ends
// when the caller cancels (the subscription is closed, nothing stays
// subscribed), when the daemon shuts down (UNAVAILABLE), or when the caller
// falls too far behind (RESOURCE_EXHAUSTED); kubelet then subscribes again
// and relists.

import type { ContainerEventResponse } from '../../generated/cri/runtime/v1/ContainerEventResponse';
import type { GetEventsRequest__Output } from '../../generated/cri/runtime/v1/GetEventsRequest';
import type { PodEvent } from '../../pods/events';
import type { PodService } from '../../pods/service';
import type { CallContext } from '../handler';
import type { StreamHandler } from '../wrap';
import { toCriContainerStatus, toCriPodSandboxStatus } from './to-cri';

/** A domain event as the CRI message (pure). */
export function toCriContainerEvent(e: PodEvent): ContainerEventResponse {
  return {
    container_id: e.containerId,
    container_event_type: e.type,
    created_at: e.createdAt,
    pod_sandbox_status: toCriPodSandboxStatus(e.pod),
    containers_statuses: e.containers.map(toCriContainerStatus),
  };
}

export function eventStreams(pods: PodService): Record<string, StreamHandler> {
  return {
    GetContainerEvents: async function* (_req: GetEventsRequest__Output, ctx: CallContext) {
      const sub = pods.subscribe();
      const cancel = (): void => sub.close();
      // A caller that cancels while no event comes must not stay subscribed until the next one.
      ctx.signal.addEventListener('abort', cancel, { once: true });
      if (ctx.signal.aborted) sub.close();
      try {
        for await (const e of sub) yield toCriContainerEvent(e);
      } finally {
        ctx.signal.removeEventListener('abort', cancel);
        sub.close();
      }
    },
  };
}
