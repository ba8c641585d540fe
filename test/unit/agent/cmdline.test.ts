import t from 'tap';
import { parseCmdline } from '../../../agent/src/cmdline';

const cases = [
  { desc: 'boot self-test', text: 'console=ttyS0 panic=1 vmpod.selftest=boot\n', want: { selftest: 'boot', channel: 'auto' } },
  { desc: 'nothing for the agent', text: 'console=ttyS0 quiet', want: { channel: 'auto' } },
  {
    desc: 'serial with port name, as src/hypervisor/qemu/cmdline.ts writes it',
    text: 'console=ttyS0 vmpod.agent=serial vmpod.agent_port=vmpod.agent',
    want: { channel: 'serial', portName: 'vmpod.agent' },
  },
  { desc: 'vsock', text: 'vmpod.agent=vsock', want: { channel: 'vsock' } },
  { desc: 'unknown transport ignored', text: 'vmpod.agent=carrier-pigeon', want: { channel: 'auto' } },
  { desc: 'port name with a slash ignored', text: 'vmpod.agent_port=../x', want: { channel: 'auto' } },
];
for (const c of cases) t.same(parseCmdline(c.text), c.want, c.desc);
