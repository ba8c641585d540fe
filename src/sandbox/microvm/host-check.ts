// What one microvm handler needs from the host, for `vmpod check` and
// verbose Status: its QEMU binary, its guest image, and (informational, the
// handler falls back) KVM and vhost-vsock; plus what it will use here and
// why. The KVM boot probe takes seconds, so only `vmpod check` runs it.

import type { MicrovmHandlerConfig } from '../../config/types';
import { binaryCapability, deviceCapability, type Capability } from '../../host/capabilities';
import { findGuestImage, guestImageProbe, guestPartPath } from '../../host/guest-image';
import { ksmState, memoryMergeDecision } from '../../host/ksm';
import { probeKvm, resolveVmHost } from '../../hypervisor';
import type { HostCheckOptions, HostReport } from '../registry';

export async function checkMicrovmHost(name: string, cfg: MicrovmHandlerConfig, opts: HostCheckOptions): Promise<HostReport> {
  const guestDir = cfg.guest_dir || undefined;
  const img = guestImageProbe(guestDir);
  const caps: Capability[] = [
    await binaryCapability('qemu', cfg.qemu_binary, ['--version'], 'qemu-system-x86', [name]),
    img.ok
      ? { name: 'guest-image', status: 'OK', detail: img.detail, neededBy: [name] }
      : { name: 'guest-image', status: 'MISSING', detail: img.detail, fix: 'run scripts/setup (builds guest-image/build into /var/cache/vmpod/guest)', neededBy: [name] },
    deviceCapability('kvm', '/dev/kvm', 'load kvm_intel/kvm_amd or enable nested virtualisation; microvm falls back to TCG (slow)', []),
    deviceCapability('vhost-vsock', '/dev/vhost-vsock', 'modprobe vhost_vsock; until then the agent channel uses virtio-serial', []),
  ];
  if (!opts.deep) return { capabilities: caps, decisions: [] };

  // One boot probe: both the kvm line and the accel decision read it.
  const found = findGuestImage(guestDir);
  const verdict = await probeKvm({ qemuBinary: cfg.qemu_binary, kernel: 'missing' in found ? undefined : guestPartPath(found, 'vmlinux') });
  const kvm = caps.find((c) => c.name === 'kvm')!;
  if (kvm.status === 'OK') {
    if (verdict.accel !== 'kvm')
      Object.assign(kvm, {
        status: 'UNUSABLE',
        detail: `/dev/kvm present but a guest cannot boot with it: ${verdict.reason}`,
        fix: 'microvm uses TCG (accel = "auto"); run on a host with working KVM for speed',
      });
    else kvm.detail = `/dev/kvm boots a guest (${verdict.reason})`;
  }
  const decisions: string[] = [];
  try {
    const host = await resolveVmHost({ ...cfg, accel: cfg.accel === 'auto' ? verdict.accel : cfg.accel }, { configKey: `runtime.handlers.${name}` });
    const accel = cfg.accel === 'auto' ? verdict : host.accel;
    decisions.push(
      `${name} accel: ${accel.accel} (${accel.reason}; config accel = "${cfg.accel}")`,
      `${name} agent transport: ${host.agentTransport.transport} (${host.agentTransport.reason}; config agent_transport = "${cfg.agent_transport}")`,
    );
  } catch (err) {
    decisions.push(`${name}: ${(err as Error).message}`);
  }
  decisions.push(memoryMergeDecision(name, cfg.memory_merge, ksmState()).line);
  return { capabilities: caps, decisions };
}
