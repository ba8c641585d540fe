// What the pod domain needs from the image and network subsystems: narrow
// interfaces (what the domain calls), so tests of the domain can pass fakes;
// the composition root passes the real ImageService and PodNetwork.

import type { ImageRunConfig } from '../oci/input';
import type { Usage } from '../image/usage';

export interface ResolvedImage {
  id: string;
  repoTags: string[];
  repoDigests: string[];
  config: ImageRunConfig;
}

export interface ImageProvider {
  /** Throws NotFoundError when the image is not present. */
  resolve(ref: string): ResolvedImage;
  /** `lowerdirs`: the image's read-only layers (absolute, top first), which the container's own files are read from. */
  prepareRootfs(containerId: string, imageRef: string): Promise<{ mountpoint: string; upper: string; lowerdirs: readonly string[] }>;
  mountRootfs(containerId: string): Promise<{ mountpoint: string }>;
  /** Unmount a container's rootfs, keeping its lease and writable layer for releaseRootfs. Idempotent. */
  unmountRootfs(containerId: string): Promise<void>;
  /** Idempotent. */
  releaseRootfs(containerId: string): Promise<void>;
  /**
   * Mount a read-only view of an image for config.mounts[index] (an image
   * volume) and return the host dir to bind: the view, or `subPath` resolved
   * inside it. Holds the image against RemoveImage until releaseVolumes.
   */
  mountVolume(containerId: string, index: number, imageRef: string, subPath: string): Promise<string>;
  /** Unmount and forget every image volume of a container. Idempotent. */
  releaseVolumes(containerId: string): Promise<void>;
  /** Containers that hold image volumes (start-up recovery releases those no record knows). */
  volumeHolders(): string[];
  /** Containers whose root filesystem is leased (start-up recovery releases those no record knows). */
  rootfsHolders(): string[];
  /** Resolves when the dirs releaseRootfs took away so far are deleted (they go after the call answers). */
  discardsDrained(): Promise<void>;
  /** Bytes and inodes of a container's writable layer (ContainerStats); cached, so a container cannot make stats slow. */
  writableLayerUsage(upperDir: string): Promise<Usage>;
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
  /** The pod's own user namespace (hostUsers: false): its netns is made inside it. uid_map/gid_map text. */
  userns?: { uidMap: string; gidMap: string };
}

export interface PodNetworkProvider {
  /**
   * The pod's netns, made and pinned ("" for a host-network pod), and
   * `attach` to run CNI ADD in it: RunPodSandbox creates the sandbox while
   * ADD runs. A failed attach has undone everything; teardown undoes a
   * prepared pod, attached or not.
   */
  prepare(pod: PodNetworkRequest): Promise<{ netnsPath: string; attach(): Promise<{ ips: { ip: string; additionalIps: string[] } }> }>;
  /** Idempotent. */
  teardown(podId: string): Promise<void>;
  /** Tear down networks of pods no record knows (a crash mid-RunPodSandbox), at start-up; returns the pods torn down. */
  reconcile(known: ReadonlySet<string>): Promise<string[]>;
}
