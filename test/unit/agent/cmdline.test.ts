import t from 'tap';
import { parseCmdline } from '../../../agent/src/cmdline';

const cases = [
  { desc: 'boot self-test', text: 'console=ttyS0 panic=1 vmpod.selftest=boot\n', want: { selftest: 'boot', channel: 'auto' } },
  { desc: 'nothing for the agent', text: 'console=ttyS0 quiet', want: { channel: 'auto' } },
  { desc: 'serial forced', text: 'vmpod.agent.channel=serial', want: { channel: 'serial' } },
  { desc: 'unknown channel ignored', text: 'vmpod.agent.channel=carrier-pigeon', want: { channel: 'auto' } },
];
for (const c of cases) t.same(parseCmdline(c.text), c.want, c.desc);
