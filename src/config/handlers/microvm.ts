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
  /**
   * Each VM pod's QEMU runs as its own uid (and gid) from
   * [qemu_uid_base, qemu_uid_base + qemu_uid_count): uids no real user or
   * container range on the host has (hypervisor/qemu-uid.ts).
   */
  qemu_uid_base: number;
  qemu_uid_count: number;
  /**
   * Bound in MiB of QEMU's translated-code buffer under TCG (`-accel
   * tcg,tb-size=`): what a VM keeps resident for it never exceeds this.
   * 0: QEMU's own default. Unused with kvm.
   */
  tcg_tb_size_mib: number;
  /** A virtio balloon through which the guest reports the RAM it frees, which QEMU then gives back to the host. */
  free_page_reporting: boolean;
  /**
   * The guests' RAM may be merged by the host's KSM (QEMU mem-merge): pods
   * of this handler then share the identical pages of their guests (the
   * kernel, zeroed memory) with each other and with other mergeable
   * processes. A cross-VM side channel (docs/security.md), so off by
   * default; it saves nothing unless the host runs KSM
   * (/sys/kernel/mm/ksm/run = 1), which vmpod never switches on itself.
   */
  memory_merge: boolean;
  /**
   * Pre-booted VMs kept ready for this handler's pods (sandbox/microvm/pool.ts):
   * a pod of the handler's default size starts on one instead of booting.
   * 0 (default): every pod boots its own VM.
   */
  pool_size?: number;
  /**
   * Pool VMs (and, with pool_size 0, each pod's VM) are restored from a
   * template instead of booting (sandbox/microvm/template.ts): one guest
   * booted once to agent-ready, whose RAM every restored VM maps
   * copy-on-write. Opt-in: shared memory between VMs is a side channel, and
   * every VM starts with the template's kernel state (docs/security.md).
   */
  template?: boolean;
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
    qemu_uid_base: { type: 'integer', minimum: 1000, maximum: 4_294_000_000 },
    qemu_uid_count: { type: 'integer', minimum: 1, maximum: 16_777_216 },
    // 0: QEMU's own default.
    tcg_tb_size_mib: { type: 'integer', minimum: 0, maximum: 2048 },
    free_page_reporting: { type: 'boolean' },
    memory_merge: { type: 'boolean' },
    pool_size: { type: 'integer', minimum: 0, maximum: 64 },
    template: { type: 'boolean' },
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
    // Outside systemd's documented uid ranges (hypervisor/qemu-uid.ts says which).
    qemu_uid_base: 1_900_000_000,
    qemu_uid_count: 65_536,
    // A boot plus a container translate ~175 MiB: 256 bounds a busy guest at no start cost measured,
    // smaller bounds flush and cost a third more start time (and the in-place resize e2e test
    // timed out at 128); 0 is QEMU's own min(1 GiB, host RAM / 8) (docs/performance.md).
    tcg_tb_size_mib: 256,
    free_page_reporting: true,
    memory_merge: false,
    pool_size: 0,
    template: false,
  }),
};
