// What the pod and container lifecycle handlers need from the daemon. The
// image and network parts are narrow interfaces (what these handlers call),
// so tests of the layer above can pass fakes; the daemon passes the real
// ImageService and PodNetwork.

import type { VmpodConfig } from '../../config/types';
import type { Logger } from '../../log';
import type { ImageRunConfig } from '../../oci/input';
import type { ControllerRegistry } from '../../sandbox/controller';
import type { ContainerStore } from '../../store/container';
import type { SandboxStore } from '../../store/sandbox';

export interface ResolvedImage {
  id: string;
  repoTags: string[];
  repoDigests: string[];
  config: ImageRunConfig;
}

export interface ImageProvider {
  /** Throws NotFoundError when the image is not present. */
  resolve(ref: string): ResolvedImage;
  prepareRootfs(containerId: string, imageRef: string): Promise<{ mountpoint: string; upper: string }>;
  mountRootfs(containerId: string): Promise<{ mountpoint: string }>;
  /** Idempotent. */
  releaseRootfs(containerId: string): Promise<void>;
}

export interface PodNetworkRequest {
  id: string;
  name: string;
  namespace: string;
  uid: string;
  hostNetwork: boolean;
  portMappings: { containerPort: number; hostPort: number; protocol: string; hostIp: string }[];
  dns?: { servers: string[]; searches: string[]; options: string[] };
  /** From the pod's bandwidth annotations; bits per second and bits. */
  bandwidth?: { ingressRate?: number; ingressBurst?: number; egressRate?: number; egressBurst?: number };
}

export interface PodNetworkProvider {
  setup(pod: PodNetworkRequest): Promise<{ netnsPath: string; ips: { ip: string; additionalIps: string[] } }>;
  /** Idempotent. */
  teardown(podId: string): Promise<void>;
}

export interface RuntimeDeps {
  config: VmpodConfig;
  log: Logger;
  sandboxes: SandboxStore;
  containers: ContainerStore;
  images: ImageProvider;
  network: PodNetworkProvider;
  controllers: ControllerRegistry;
}
