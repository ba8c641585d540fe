// What this host offers pod VMs, resolved once at daemon start (and shown by
// `vmpod check`): the accelerator and the agent transport, each with the
// reason it was chosen. An explicit config choice the host cannot honour is
// a configuration error, reported before any pod is accepted.

import type { MicrovmConfig } from '../config/types';
import { ConfigError } from '../../common/errors';
import type { Logger } from '../log';
import { deviceAccessible, detectAccel, resolveAgentTransport, vhostVsockUsable, type AccelVerdict } from './qemu/accel';

export interface VmHostSupport {
  accel: AccelVerdict;
  agentTransport: { transport: 'vsock' | 'serial'; reason: string };
}

export interface VmHostProbeOptions {
  /** The guest kernel the kvm probe boots (the guest image's vmlinux). */
  kernel?: string;
  /** Where the accel verdict is cached (e.g. <state>/accel.json). */
  cacheFile?: string;
  kvmDevice?: string;
  vsockDevice?: string;
  logger?: Logger;
  /** Where these settings are in the config, for errors (e.g. `runtime.handlers.vm`). */
  configKey?: string;
}

export async function resolveVmHost(cfg: Pick<MicrovmConfig, 'accel' | 'agent_transport' | 'qemu_binary'>, o: VmHostProbeOptions = {}): Promise<VmHostSupport> {
  const key = (k: string): string => (o.configKey ? `${o.configKey}.${k}` : k);
  const kvmDevice = o.kvmDevice ?? '/dev/kvm';
  const vsockDevice = o.vsockDevice ?? '/dev/vhost-vsock';
  if (cfg.accel === 'kvm' && !deviceAccessible(kvmDevice)) {
    throw new ConfigError(key('accel'), `"kvm" is configured but ${kvmDevice} is missing or not accessible; set accel = "auto" or "tcg"`);
  }
  const accel = await detectAccel(cfg.accel, { qemuBinary: cfg.qemu_binary, kernel: o.kernel, cacheFile: o.cacheFile, kvmDevice, logger: o.logger });

  const vsock = vhostVsockUsable(vsockDevice);
  if (cfg.agent_transport === 'vsock' && !vsock) {
    throw new ConfigError(key('agent_transport'), `"vsock" is configured but ${vsockDevice} is missing or not usable (modprobe vhost_vsock); set agent_transport = "auto" or "serial"`);
  }
  const transport = resolveAgentTransport(cfg.agent_transport, vsock);
  const reason = cfg.agent_transport !== 'auto' ? 'configured' : vsock ? `${vsockDevice} usable` : `${vsockDevice} missing or not usable: virtio-serial fallback`;
  return { accel, agentTransport: { transport, reason } };
}
