import t from 'tap';
import * as protobuf from 'protobufjs';
import {
  IMAGE_SERVICE_RPCS,
  RUNTIME_SERVICE_RPCS,
  SERVER_STREAMING_RPCS,
  criGrpcObject,
  criPackageDefinition,
  criProtoPath,
  imageServiceDefinition,
  runtimeServiceDefinition,
} from '../../../src/cri/proto';

// What upstream kubernetes/kubernetes@0268656a defines, written out by hand so
// that a change to the proto (or a sloppy re-sync) shows up here.
interface RpcRow {
  rpc: string;
  request: string;
  response: string;
  /** Server-streaming response. */
  stream?: true;
}

const runtimeRpcs: RpcRow[] = [
  { rpc: 'Version', request: 'VersionRequest', response: 'VersionResponse' },
  { rpc: 'RunPodSandbox', request: 'RunPodSandboxRequest', response: 'RunPodSandboxResponse' },
  { rpc: 'StopPodSandbox', request: 'StopPodSandboxRequest', response: 'StopPodSandboxResponse' },
  { rpc: 'RemovePodSandbox', request: 'RemovePodSandboxRequest', response: 'RemovePodSandboxResponse' },
  { rpc: 'PodSandboxStatus', request: 'PodSandboxStatusRequest', response: 'PodSandboxStatusResponse' },
  { rpc: 'ListPodSandbox', request: 'ListPodSandboxRequest', response: 'ListPodSandboxResponse' },
  { rpc: 'StreamPodSandboxes', request: 'StreamPodSandboxesRequest', response: 'StreamPodSandboxesResponse', stream: true },
  { rpc: 'CreateContainer', request: 'CreateContainerRequest', response: 'CreateContainerResponse' },
  { rpc: 'StartContainer', request: 'StartContainerRequest', response: 'StartContainerResponse' },
  { rpc: 'StopContainer', request: 'StopContainerRequest', response: 'StopContainerResponse' },
  { rpc: 'RemoveContainer', request: 'RemoveContainerRequest', response: 'RemoveContainerResponse' },
  { rpc: 'ListContainers', request: 'ListContainersRequest', response: 'ListContainersResponse' },
  { rpc: 'StreamContainers', request: 'StreamContainersRequest', response: 'StreamContainersResponse', stream: true },
  { rpc: 'ContainerStatus', request: 'ContainerStatusRequest', response: 'ContainerStatusResponse' },
  { rpc: 'UpdateContainerResources', request: 'UpdateContainerResourcesRequest', response: 'UpdateContainerResourcesResponse' },
  { rpc: 'ReopenContainerLog', request: 'ReopenContainerLogRequest', response: 'ReopenContainerLogResponse' },
  { rpc: 'ExecSync', request: 'ExecSyncRequest', response: 'ExecSyncResponse' },
  { rpc: 'Exec', request: 'ExecRequest', response: 'ExecResponse' },
  { rpc: 'Attach', request: 'AttachRequest', response: 'AttachResponse' },
  { rpc: 'PortForward', request: 'PortForwardRequest', response: 'PortForwardResponse' },
  { rpc: 'ContainerStats', request: 'ContainerStatsRequest', response: 'ContainerStatsResponse' },
  { rpc: 'ListContainerStats', request: 'ListContainerStatsRequest', response: 'ListContainerStatsResponse' },
  { rpc: 'StreamContainerStats', request: 'StreamContainerStatsRequest', response: 'StreamContainerStatsResponse', stream: true },
  { rpc: 'PodSandboxStats', request: 'PodSandboxStatsRequest', response: 'PodSandboxStatsResponse' },
  { rpc: 'ListPodSandboxStats', request: 'ListPodSandboxStatsRequest', response: 'ListPodSandboxStatsResponse' },
  { rpc: 'StreamPodSandboxStats', request: 'StreamPodSandboxStatsRequest', response: 'StreamPodSandboxStatsResponse', stream: true },
  { rpc: 'UpdateRuntimeConfig', request: 'UpdateRuntimeConfigRequest', response: 'UpdateRuntimeConfigResponse' },
  { rpc: 'Status', request: 'StatusRequest', response: 'StatusResponse' },
  { rpc: 'CheckpointContainer', request: 'CheckpointContainerRequest', response: 'CheckpointContainerResponse' },
  { rpc: 'GetContainerEvents', request: 'GetEventsRequest', response: 'ContainerEventResponse', stream: true },
  { rpc: 'ListMetricDescriptors', request: 'ListMetricDescriptorsRequest', response: 'ListMetricDescriptorsResponse' },
  { rpc: 'ListPodSandboxMetrics', request: 'ListPodSandboxMetricsRequest', response: 'ListPodSandboxMetricsResponse' },
  { rpc: 'StreamPodSandboxMetrics', request: 'StreamPodSandboxMetricsRequest', response: 'StreamPodSandboxMetricsResponse', stream: true },
  { rpc: 'RuntimeConfig', request: 'RuntimeConfigRequest', response: 'RuntimeConfigResponse' },
  { rpc: 'UpdatePodSandboxResources', request: 'UpdatePodSandboxResourcesRequest', response: 'UpdatePodSandboxResourcesResponse' },
];

const imageRpcs: RpcRow[] = [
  { rpc: 'ListImages', request: 'ListImagesRequest', response: 'ListImagesResponse' },
  { rpc: 'StreamImages', request: 'StreamImagesRequest', response: 'StreamImagesResponse', stream: true },
  { rpc: 'ImageStatus', request: 'ImageStatusRequest', response: 'ImageStatusResponse' },
  { rpc: 'PullImage', request: 'PullImageRequest', response: 'PullImageResponse' },
  { rpc: 'RemoveImage', request: 'RemoveImageRequest', response: 'RemoveImageResponse' },
  { rpc: 'ImageFsInfo', request: 'ImageFsInfoRequest', response: 'ImageFsInfoResponse' },
];

type AnyMethods = Record<
  string,
  {
    path: string;
    requestStream: boolean;
    responseStream: boolean;
    requestType: { type: object; serialize(v: object): Buffer; deserialize(b: Buffer): object };
    responseType: { type: object; serialize(v: object): Buffer; deserialize(b: Buffer): object };
  }
>;

// The generated definitions are typed per method; here every method is driven
// generically by name, which the runtime objects allow (serialize takes any object).
const byName = (def: object): AnyMethods => def as AnyMethods;

const services: Array<{ desc: string; service: string; def: () => AnyMethods; rows: RpcRow[]; exported: readonly string[] }> = [
  { desc: 'RuntimeService', service: 'runtime.v1.RuntimeService', def: () => byName(runtimeServiceDefinition()), rows: runtimeRpcs, exported: RUNTIME_SERVICE_RPCS },
  { desc: 'ImageService', service: 'runtime.v1.ImageService', def: () => byName(imageServiceDefinition()), rows: imageRpcs, exported: IMAGE_SERVICE_RPCS },
];

const typeName = (type: object): string | undefined => (type as { name?: string }).name;

for (const s of services) {
  t.test(`${s.desc} has exactly the upstream RPCs`, async (t) => {
    const def = s.def();
    t.same(Object.keys(def).sort(), s.rows.map((r) => r.rpc).sort(), 'service definition methods');
    t.same(
      [...s.exported],
      s.rows.map((r) => r.rpc),
      'exported RPC name list, in proto order',
    );
  });

  for (const row of s.rows) {
    t.test(`${s.desc}.${row.rpc}: ${row.request} -> ${row.stream ? 'stream ' : ''}${row.response}`, async (t) => {
      const m = s.def()[row.rpc];
      if (!m) return void t.fail(`${s.service} lacks ${row.rpc}`);
      t.equal(m.path, `/${s.service}/${row.rpc}`, 'gRPC path');
      t.equal(m.requestStream, false, 'no client streaming in CRI');
      t.equal(m.responseStream, row.stream === true, 'server streaming');
      t.equal(SERVER_STREAMING_RPCS.has(row.rpc as never), row.stream === true, 'SERVER_STREAMING_RPCS agrees');
      t.equal(typeName(m.requestType.type), row.request, 'request type');
      t.equal(typeName(m.responseType.type), row.response, 'response type');
      // The types resolve to real message definitions: both are in the package
      // definition and an empty message survives a serialize/deserialize round trip.
      const pkg = criPackageDefinition();
      t.ok(pkg[`runtime.v1.${row.request}`], 'request type in package definition');
      t.ok(pkg[`runtime.v1.${row.response}`], 'response type in package definition');
      t.type(m.requestType.deserialize(m.requestType.serialize({})), 'object', 'request round trip');
      t.type(m.responseType.deserialize(m.responseType.serialize({})), 'object', 'response round trip');
    });
  }
}

t.test('the proto is loaded once', async (t) => {
  t.equal(criPackageDefinition(), criPackageDefinition(), 'same package definition');
  t.equal(runtimeServiceDefinition(), criGrpcObject().runtime.v1.RuntimeService.service, 'service from the same load');
});

// Wire checks: protobufjs encodes messages from our proto and we compare with
// bytes worked out by hand from upstream's field numbers (tag = number << 3 | wire type).
const root = protobuf.loadSync(criProtoPath());
root.resolveAll();

const wireCases: Array<{ desc: string; type: string; value: Record<string, unknown>; hex: string }> = [
  { desc: 'ImageSpec.user_specified_image is field 18 (tag 0x92 0x01)', type: 'ImageSpec', value: { image: 'a', userSpecifiedImage: 'b' }, hex: '0a0161' + '920101' + '62' },
  { desc: 'ImageSpec.runtime_handler 19, image_ref 20', type: 'ImageSpec', value: { runtimeHandler: 'h', imageRef: 'r' }, hex: '9a010168' + 'a2010172' },
  {
    desc: 'LinuxSandboxSecurityContext.run_as_group is 8, supplemental_groups_policy 11',
    type: 'LinuxSandboxSecurityContext',
    value: { runAsGroup: { value: 5 }, supplementalGroupsPolicy: 1 },
    hex: '42020805' + '5801',
  },
  {
    desc: 'LinuxContainerSecurityContext.run_as_group 12, supplemental_groups_policy 17',
    type: 'LinuxContainerSecurityContext',
    value: { runAsGroup: { value: 7 }, supplementalGroupsPolicy: 1 },
    hex: '62020807' + '880101',
  },
  { desc: 'ContainerConfig.stop_signal is 18 and SIGKILL = 13', type: 'ContainerConfig', value: { stopSignal: 13 }, hex: '90010d' },
  {
    desc: 'ContainerStatus.stop_signal 19, image_id 17, user 18',
    type: 'ContainerStatus',
    value: { imageId: 'i', user: { linux: { uid: 1 } }, stopSignal: 23 },
    hex: '8a010169' + '920104' + '0a020801' + '980117',
  },
  { desc: 'ExecRequest.audit_request_id is 7', type: 'ExecRequest', value: { containerId: 'c', auditRequestId: 'x' }, hex: '0a0163' + '3a0178' },
  { desc: 'AttachRequest.audit_request_id is 6', type: 'AttachRequest', value: { auditRequestId: 'x' }, hex: '320178' },
  {
    desc: 'Mount.image 9, image_sub_path 10, recursive_read_only 8',
    type: 'Mount',
    value: { recursiveReadOnly: true, image: { image: 'i' }, imageSubPath: 's' },
    hex: '4001' + '4a030a0169' + '520173',
  },
  { desc: 'PodSandboxStatusResponse.timestamp is 4 (int64 varint)', type: 'PodSandboxStatusResponse', value: { timestamp: 300 }, hex: '20ac02' },
  { desc: 'StopContainerRequest.timeout is 2', type: 'StopContainerRequest', value: { containerId: 'c', timeout: 30 }, hex: '0a0163' + '101e' },
  { desc: 'StatusResponse.features is 4', type: 'StatusResponse', value: { features: { supplementalGroupsPolicy: true } }, hex: '22020801' },
  { desc: 'PsiData.Avg10 is a double at 2', type: 'PsiData', value: { Total: 1, Avg10: 1.5 }, hex: '0801' + '11000000000000f83f' },
  { desc: 'StreamPodSandboxesResponse.pod_sandboxes is 1', type: 'StreamPodSandboxesResponse', value: { podSandboxes: [{ id: 'p' }] }, hex: '0a030a0170' },
  { desc: 'UpdatePodSandboxResourcesRequest.resources is 3', type: 'UpdatePodSandboxResourcesRequest', value: { podSandboxId: 'p', resources: { cpuShares: 2 } }, hex: '0a0170' + '1a021802' },
  { desc: 'RuntimeConfigResponse: linux 1, CGROUPFS = 1', type: 'RuntimeConfigResponse', value: { linux: { cgroupDriver: 1 } }, hex: '0a020801' },
  { desc: 'ContainerEventResponse.containers_statuses is 5', type: 'ContainerEventResponse', value: { containerEventType: 2, containersStatuses: [{ id: 'c' }] }, hex: '1002' + '2a030a0163' },
];

for (const c of wireCases) {
  t.test(`wire: ${c.desc}`, async (t) => {
    const type = root.lookupType(`runtime.v1.${c.type}`);
    t.equal(type.verify(c.value), null, 'value fits the message');
    t.equal(Buffer.from(type.encode(type.fromObject(c.value)).finish()).toString('hex'), c.hex);
  });
}

t.test('the gRPC loader decodes with the agreed options', async (t) => {
  const def = runtimeServiceDefinition();
  const cc = root.lookupType('runtime.v1.CreateContainerRequest');
  const bytes = Buffer.from(cc.encode(cc.fromObject({ podSandboxId: 'p', config: { stopSignal: 13, CDIDevices: [{ name: 'v/c=d' }] } })).finish());
  const req = def.CreateContainer.requestDeserialize(bytes);
  t.equal(req.pod_sandbox_id, 'p', 'snake_case field names kept');
  t.equal(req.config?.stop_signal, 'SIGKILL', 'enums as names');
  t.same(req.config?.CDI_devices, [{ name: 'v/c=d' }], 'odd upstream capitalisation kept');
  t.same(req.config?.mounts, [], 'repeated defaults to []');
  t.equal(req.sandbox_config, null, 'unset message is null');

  const st = root.lookupType('runtime.v1.PodSandboxStatusResponse');
  const res = def.PodSandboxStatus.responseDeserialize(Buffer.from(st.encode(st.fromObject({ timestamp: '1700000000123456789' })).finish()));
  t.equal(res.timestamp, '1700000000123456789', 'int64 as an exact decimal string');

  const es = root.lookupType('runtime.v1.ExecSyncResponse');
  const out = def.ExecSync.responseDeserialize(Buffer.from(es.encode(es.fromObject({ stdout: Buffer.from('hi') })).finish()));
  t.ok(Buffer.isBuffer(out.stdout), 'bytes as Buffer');
  t.equal(out.stdout.toString(), 'hi');
  t.equal(out.exit_code, 0, 'scalar default filled in');
});
