// Naming the phase in which a pod VM failed to come up, so that the error a
// user sees says where to look: QEMU itself (qemu-start), the guest kernel
// and its init (kernel-boot), the agent (agent-connect), or the pod network
// (network-setup). Decided from what the guest console shows, since the
// console is the only witness of a boot that went wrong. Pure.

export type BootPhase = 'qemu-start' | 'kernel-boot' | 'agent-connect' | 'sandbox-setup' | 'network-setup';

/** The init prints this right before it hands over to the agent (guest-image/initramfs/init). */
export const INIT_HANDOVER_MARKER = 'vmpod-init: switching root';
/** Printed by the init on any failure before it powers off. */
export const INIT_FAILED_MARKER = 'vmpod-init: FAILED';

/** Where a boot that ended (VM exit or timeout) before the agent answered got stuck. */
export function stuckPhase(console: string): 'kernel-boot' | 'agent-connect' {
  if (console.includes(INIT_FAILED_MARKER)) return 'kernel-boot';
  return console.includes(INIT_HANDOVER_MARKER) ? 'agent-connect' : 'kernel-boot';
}

/** One error message: the phase, what went wrong, and the guest console's last lines. */
export function phaseMessage(podId: string, phase: BootPhase, problem: string, consoleTail: string, maxLines = 20): string {
  const lines = consoleTail.split('\n').filter((l) => l.trim() !== '').slice(-maxLines);
  const tail = lines.length > 0 ? `; guest console (last ${lines.length} lines):\n${lines.join('\n')}` : '; the guest console is empty';
  return `pod VM ${podId}: ${phase} failed: ${problem}${tail}`;
}
