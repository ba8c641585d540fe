// The agent's switches on the kernel command line (pure). The host sets them
// in src/hypervisor/qemu/cmdline.ts (see docs/guest.md).
//   vmpod.selftest=boot               print the boot self-test lines and power off
//   vmpod.agent=serial|vsock|auto     transport(s) to serve (default auto: every one that exists)
//   vmpod.agent_port=<name>           virtio-serial port name (default vmpod.agent)

export interface AgentCmdline {
  selftest?: string;
  channel: 'serial' | 'vsock' | 'auto';
  portName?: string;
}

export function parseCmdline(text: string): AgentCmdline {
  const out: AgentCmdline = { channel: 'auto' };
  for (const word of text.trim().split(/\s+/)) {
    const eq = word.indexOf('=');
    if (eq < 0) continue;
    const key = word.slice(0, eq);
    const value = word.slice(eq + 1);
    if (key === 'vmpod.selftest') out.selftest = value;
    else if (key === 'vmpod.agent' && (value === 'serial' || value === 'vsock' || value === 'auto')) out.channel = value;
    else if (key === 'vmpod.agent_port' && /^[A-Za-z0-9_.-]{1,64}$/.test(value)) out.portName = value;
  }
  return out;
}
