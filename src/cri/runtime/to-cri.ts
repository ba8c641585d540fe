// Records → CRI messages (pure).

import type { Container } from '../../generated/cri/runtime/v1/Container';
import type { ContainerStatus } from '../../generated/cri/runtime/v1/ContainerStatus';
import type { ImageSpec } from '../../generated/cri/runtime/v1/ImageSpec';
import type { PodSandbox } from '../../generated/cri/runtime/v1/PodSandbox';
import type { PodSandboxStatus } from '../../generated/cri/runtime/v1/PodSandboxStatus';
import type { ContainerRecord } from '../../store/container';
import { criSignalName } from '../../oci/process';
import type { SandboxRecord } from '../../store/sandbox';

export function toCriPodSandbox(s: SandboxRecord): PodSandbox {
  return {
    id: s.id,
    metadata: s.config.metadata,
    state: s.state,
    created_at: s.createdAt,
    labels: s.config.labels,
    annotations: s.config.annotations,
    runtime_handler: s.handler,
  };
}

export function toCriPodSandboxStatus(s: SandboxRecord): PodSandboxStatus {
  return {
    ...toCriPodSandbox(s),
    network: { ip: s.ip, additional_ips: s.additionalIps.map((ip) => ({ ip })) },
    linux: { namespaces: { options: { network: s.namespaces.network, pid: s.namespaces.pid, ipc: s.namespaces.ipc, target_id: '' } } },
  };
}

/** The ImageSpec the container was created with, echoed back (kubelet compares user_specified_image). */
function imageSpecOf(c: ContainerRecord): ImageSpec {
  const spec = c.config.image;
  return { image: c.image, annotations: spec?.annotations ?? {}, user_specified_image: spec?.user_specified_image ?? '', runtime_handler: spec?.runtime_handler ?? '' };
}

export function toCriContainer(c: ContainerRecord): Container {
  return {
    id: c.id,
    pod_sandbox_id: c.podSandboxId,
    metadata: c.config.metadata,
    image: imageSpecOf(c),
    image_ref: c.imageRef,
    state: c.state,
    created_at: c.createdAt,
    labels: c.config.labels,
    annotations: c.config.annotations,
    image_id: c.imageId,
  };
}

export function toCriContainerStatus(c: ContainerRecord): ContainerStatus {
  return {
    id: c.id,
    metadata: c.config.metadata,
    state: c.state,
    created_at: c.createdAt,
    started_at: c.startedAt,
    finished_at: c.finishedAt,
    exit_code: c.exitCode,
    image: imageSpecOf(c),
    image_ref: c.imageRef,
    image_id: c.imageId,
    reason: c.reason,
    message: c.message,
    labels: c.config.labels,
    annotations: c.config.annotations,
    // The signal StopContainer sends: the config's, else the image's, else SIGTERM.
    stop_signal: criSignalName(c.stopSignal) as ContainerStatus['stop_signal'],
    // As asked (kubelet compares them with the pod spec): an image volume keeps its image and sub path, not the host view vmpod mounted.
    mounts: c.config.mounts.map((m) => ({
      container_path: m.container_path,
      host_path: m.host_path,
      readonly: m.readonly,
      propagation: m.propagation,
      selinux_relabel: m.selinux_relabel,
      recursive_read_only: m.recursive_read_only,
      image: m.image ?? null,
      image_sub_path: m.image_sub_path,
    })),
    log_path: c.logPath,
    resources: c.resources ? { linux: c.resources } : null,
    user: c.user ? { linux: { uid: String(c.user.uid), gid: String(c.user.gid), supplemental_groups: c.user.additionalGids.map(String) } } : null,
  };
}
