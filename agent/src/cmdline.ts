// The agent's switches on the kernel command line (pure).
//   vmpod.selftest=boot   print the boot self-test lines and power off
//   vmpod.agent.channel=serial|vsock|auto   which transport(s) to serve (default auto: both that exist)

export interface AgentCmdline {
  selftest?: string;
  channel: 'serial' | 'vsock' | 'auto';
}

export function parseCmdline(text: string): AgentCmdline {
  const out: AgentCmdline = { channel: 'auto' };
  for (const word of text.trim().split(/\s+/)) {
    const eq = word.indexOf('=');
    if (eq < 0) continue;
    const key = word.slice(0, eq);
    const value = word.slice(eq + 1);
    if (key === 'vmpod.selftest') out.selftest = value;
    else if (key === 'vmpod.agent.channel' && (value === 'serial' || value === 'vsock' || value === 'auto')) out.channel = value;
  }
  return out;
}
