// The CRI runtime.v1 API as grpc-js sees it: proto/cri/api.proto loaded once,
// on first use, with the loader options every handler relies on (see
// src/cri/handler.ts). scripts/gen-proto generates src/generated/cri with the
// same options, so the generated `__Output` types describe exactly the objects
// this loader decodes.

import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { projectRoot } from '../paths';
import type { ProtoGrpcType } from '../generated/cri/api';
import type { ImageServiceDefinition } from '../generated/cri/runtime/v1/ImageService';
import type { RuntimeServiceDefinition } from '../generated/cri/runtime/v1/RuntimeService';

export type { ProtoGrpcType, ImageServiceDefinition, RuntimeServiceDefinition };

/** Fully qualified service names, as they appear in gRPC method paths (`/runtime.v1.RuntimeService/Version`). */
export const RUNTIME_SERVICE_NAME = 'runtime.v1.RuntimeService';
export const IMAGE_SERVICE_NAME = 'runtime.v1.ImageService';

/**
 * Decoding rules for CRI messages: snake_case field names as in the proto,
 * int64/uint64 as decimal strings (nanosecond timestamps overflow 2^53),
 * enums as value names, unset scalars/repeated/maps filled with defaults
 * (messages stay null), oneof virtual fields, bytes as Buffer.
 * Must stay in step with the flags in scripts/gen-proto.
 */
export const CRI_LOADER_OPTIONS: Readonly<protoLoader.Options> = Object.freeze({
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
  bytes: Buffer,
});

/** Absolute path of the CRI proto file in the installed package. */
export function criProtoPath(): string {
  return join(projectRoot(), 'proto', 'cri', 'api.proto');
}

/** The keys of T without its index signature (grpc's ServiceDefinition types carry one). */
type KnownKeys<T> = keyof { [K in keyof T as string extends K ? never : number extends K ? never : K]: T[K] };

/**
 * Identity function that fails to compile unless `names` lists every member
 * of `All`; the error names the missing ones. Keeps the RPC tables below
 * complete when the proto gains a method.
 */
function listingAll<All extends string>() {
  return <const L extends readonly All[]>(names: L & ([Exclude<All, L[number]>] extends [never] ? unknown : { missingRpcs: Exclude<All, L[number]> })): L => names;
}

/** Every RuntimeService RPC, in proto order. */
export const RUNTIME_SERVICE_RPCS = listingAll<KnownKeys<RuntimeServiceDefinition>>()([
  'Version',
  'RunPodSandbox',
  'StopPodSandbox',
  'RemovePodSandbox',
  'PodSandboxStatus',
  'ListPodSandbox',
  'StreamPodSandboxes',
  'CreateContainer',
  'StartContainer',
  'StopContainer',
  'RemoveContainer',
  'ListContainers',
  'StreamContainers',
  'ContainerStatus',
  'UpdateContainerResources',
  'ReopenContainerLog',
  'ExecSync',
  'Exec',
  'Attach',
  'PortForward',
  'ContainerStats',
  'ListContainerStats',
  'StreamContainerStats',
  'PodSandboxStats',
  'ListPodSandboxStats',
  'StreamPodSandboxStats',
  'UpdateRuntimeConfig',
  'Status',
  'CheckpointContainer',
  'GetContainerEvents',
  'ListMetricDescriptors',
  'ListPodSandboxMetrics',
  'StreamPodSandboxMetrics',
  'RuntimeConfig',
  'UpdatePodSandboxResources',
]);
export type RuntimeRpcName = (typeof RUNTIME_SERVICE_RPCS)[number];

/** Every ImageService RPC, in proto order. */
export const IMAGE_SERVICE_RPCS = listingAll<KnownKeys<ImageServiceDefinition>>()(['ListImages', 'StreamImages', 'ImageStatus', 'PullImage', 'RemoveImage', 'ImageFsInfo']);
export type ImageRpcName = (typeof IMAGE_SERVICE_RPCS)[number];

/**
 * RPCs whose response is a server stream (all others are unary; CRI has no
 * client streams). A server registering a unary handler for these would
 * break the call, so the server wiring needs to know them.
 */
export const SERVER_STREAMING_RPCS: ReadonlySet<RuntimeRpcName | ImageRpcName> = new Set([
  'StreamPodSandboxes',
  'StreamContainers',
  'StreamContainerStats',
  'StreamPodSandboxStats',
  'GetContainerEvents',
  'StreamPodSandboxMetrics',
  'StreamImages',
] as const);

interface Loaded {
  packageDefinition: protoLoader.PackageDefinition;
  grpcObject: ProtoGrpcType;
}

function load(): Loaded {
  // Synchronous on purpose: it runs once, when the module loads, before any socket is served.
  const packageDefinition = protoLoader.loadSync(criProtoPath(), { ...CRI_LOADER_OPTIONS });
  // The generated ProtoGrpcType is the typed view of exactly this object.
  const grpcObject = grpc.loadPackageDefinition(packageDefinition) as unknown as ProtoGrpcType;
  return { packageDefinition, grpcObject };
}

const LOADED = load();

/** The proto-loader package definition (message and service definitions by full name). */
export function criPackageDefinition(): protoLoader.PackageDefinition {
  return LOADED.packageDefinition;
}

/** Typed grpc-js object tree: `criGrpcObject().runtime.v1.RuntimeService` is a client constructor. */
export function criGrpcObject(): ProtoGrpcType {
  return LOADED.grpcObject;
}

/** Service definition to pass to `grpc.Server.addService` for the runtime service. */
export function runtimeServiceDefinition(): RuntimeServiceDefinition {
  return criGrpcObject().runtime.v1.RuntimeService.service;
}

/** Service definition to pass to `grpc.Server.addService` for the image service. */
export function imageServiceDefinition(): ImageServiceDefinition {
  return criGrpcObject().runtime.v1.ImageService.service;
}
