// [runtime.handlers.<name>] with type = "microvm": each pod in its own QEMU
// VM with the vmpod agent. Every key is per handler, so two VM handlers (two
// RuntimeClasses) can differ in size, accelerator or guest image.

import type { HandlerConfigDef } from '../handler-config';

/** How QEMU runs the guest: hardware virtualisation, emulation, or whichever the host allows. */
export type Accel = 'auto' | 'kvm' | 'tcg';
/** How the agent is reached: vsock in production, virtio-serial where vhost-vsock is missing. */
export type AgentTransport = 'auto' | 'vsock' | 'serial';

/** The VM settings of one microvm handler. */
export interface MicrovmConfig {
  accel: Accel;
  agent_transport: AgentTransport;
  vcpus: number;
  memory_mib: number;
  /** Directory holding the built guest (kernel, initramfs, rootfs, manifest.json); "" = the image this checkout's build recorded. */
  guest_dir: string;
  qemu_binary: string;
  /** Seconds to wait for the guest agent after QEMU starts. */
  boot_timeout_s: number;
}

export interface MicrovmHandlerConfig extends MicrovmConfig {
  type: 'microvm';
  [key: string]: unknown;
}

const str = { type: 'string', minLength: 1 } as const;

export const microvmHandlerConfig: HandlerConfigDef<MicrovmHandlerConfig> = {
  type: 'microvm',
  isolation: 'vm',
  properties: {
    accel: { enum: ['auto', 'kvm', 'tcg'] },
    agent_transport: { enum: ['auto', 'vsock', 'serial'] },
    vcpus: { type: 'integer', minimum: 1, maximum: 64 },
    memory_mib: { type: 'integer', minimum: 128, maximum: 262144 },
    guest_dir: { type: 'string' },
    qemu_binary: str,
    boot_timeout_s: { type: 'number', exclusiveMinimum: 0, maximum: 3600 },
  },
  defaults: () => ({
    type: 'microvm',
    accel: 'auto',
    agent_transport: 'auto',
    vcpus: 1,
    memory_mib: 512,
    // Empty: the image this checkout's guest-image/build recorded in
    // dist/guest-image.json (src/host/guest-record.ts), never a link shared
    // by every checkout on the machine.
    guest_dir: '',
    qemu_binary: 'qemu-system-x86_64',
    boot_timeout_s: 120,
  }),
};
