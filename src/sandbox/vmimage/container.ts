// CreateContainer of a VM-image pod: the image's disk is found and checked
// (disk.ts), the pod's overlay made or reused over it (overlay.ts), and the
// cloud-init disk built for this boot (cidata.ts): meta-data from the pod,
// user-data from the container's or pod's annotations, network-config from
// the pod network; CRI block devices become extra disks (block-devices.ts),
// CRI directory mounts 9p shares that cloud-init mounts (mounts.ts).
// No VM yet: StartContainer boots it.

import { readFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import type { ContainerCreateInput } from '../controller';
import { podCpuLimit, podMemoryLimitMib, vmSize } from '../microvm/sizing';
import { blockDisks } from './block-devices';
import { writeCidataIso, resolveUserData } from './cidata';
import { firmwareChoice, metaData, networkConfig, resolvConfDns, userDataSource, type DnsSettings } from './cloud-init';
import { VMI_DATA_VERSION, type VmImageContainerData, type VmImagePodData } from './data';
import { findContainerDisk } from './disk';
import { addPodContainer, vmImagePodPaths } from './layout';
import { planShares, vendorData } from './mounts';
import { prepareOverlay } from './overlay';
import type { VmImageEnv } from './pod';
import { CIDATA_DISK_ID, ROOT_DISK_ID } from './vm';

/** The pod's DNS as kubelet gave it; without any, the host's resolvers a guest can reach. */
async function podDns(input: ContainerCreateInput): Promise<DnsSettings> {
  const dns = input.sandbox.config.dns_config;
  if (dns && (dns.servers.length > 0 || dns.searches.length > 0)) return { servers: dns.servers, searches: dns.searches };
  return resolvConfDns(await readFile('/etc/resolv.conf', 'utf8').catch(() => ''));
}

export async function createVmImageContainer(env: VmImageEnv, input: ContainerCreateInput, pod: VmImagePodData): Promise<VmImageContainerData> {
  const { id, config, sandbox: sb } = input;
  const log = input.log.child({ subsystem: 'vm-image' });
  const paths = vmImagePodPaths(env.state, sb.id);
  const image = config.image?.image ?? '';
  // Recorded first, so that removing the pod by id finds this container's VM whatever happens next.
  await addPodContainer(paths, id);
  const disk = await findContainerDisk(input.rootfs, image);
  const devices = blockDisks(config.devices, [ROOT_DISK_ID, CIDATA_DISK_ID], config.metadata?.name ?? '');
  const shares = planShares(config.mounts, log);
  const firmware = firmwareChoice(config.annotations, sb.config.annotations, env.cfg.firmware);
  const src = userDataSource(config.annotations, sb.config.annotations);
  const userData = await resolveUserData(src, config.mounts, env.cfg.max_user_data_bytes, id);
  // The container's own limits size the VM when it has them; else the pod's (what RunPodSandbox sized the cgroup for).
  const res = config.linux?.resources ?? null;
  const size =
    podCpuLimit(res) > 0 || podMemoryLimitMib(res) > 0
      ? vmSize({ baseVcpus: env.cfg.vcpus, baseMemoryMib: env.cfg.memory_mib, resources: res, hostCpus: cpus().length, hostMemoryMib: Math.floor(totalmem() / (1024 * 1024)) })
      : { vcpus: pod.vcpus, memoryMib: pod.memoryMib, explain: 'the pod size' };
  const overlay = await prepareOverlay(
    paths.dir,
    disk.path,
    // The image id changes with any layer; a record without it (a test fake) falls back to the ref and the disk's size.
    { imageKey: input.imageId ?? `${image}#${disk.fileSize}`, diskName: disk.name, format: disk.format, virtualSize: disk.virtualSize },
    config.metadata?.name ?? '',
  );
  await writeCidataIso(paths.dir, paths.cidata, {
    metaData: metaData(sb.config.metadata?.uid || sb.id, sb.hostname),
    userData,
    networkConfig: pod.network ? networkConfig(pod.network, await podDns(input)) : `${JSON.stringify({ version: 2, ethernets: {} })}\n`,
    ...(shares.length > 0 ? { vendorData: vendorData(shares) } : {}),
  });
  log.info(
    { disk: { name: disk.name, format: disk.format, virtualSize: disk.virtualSize }, overlay: overlay.plan, firmware, userData: src.kind === 'default' ? 'default' : src.from, size: size.explain },
    'VM-image container prepared',
  );
  return {
    v: VMI_DATA_VERSION,
    image,
    disk: { path: disk.path, name: disk.name, format: disk.format, virtualSize: disk.virtualSize },
    overlay: overlay.path,
    overlayPlan: overlay.plan,
    firmware,
    machine: env.cfg.machine,
    vcpus: size.vcpus,
    memoryMib: size.memoryMib,
    userDataFrom: src.kind === 'default' ? 'default' : src.from,
    devices,
    shares,
  };
}
