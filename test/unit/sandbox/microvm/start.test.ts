import t from 'tap';
import { INIT_FAILED_MARKER, INIT_HANDOVER_MARKER, phaseMessage, stuckPhase } from '../../../../src/sandbox/microvm/start';

t.test('where a boot got stuck, from the console', async (t) => {
  const cases: [string, string, string][] = [
    ['empty console: the kernel never spoke', '', 'kernel-boot'],
    ['kernel messages only', '[    0.000000] Linux version 6.1\n[ 1.2] Run /init as init process', 'kernel-boot'],
    ['init failed before hand-over', `vmpod-init: start\n${INIT_FAILED_MARKER}: mount /dev/pmem0\n`, 'kernel-boot'],
    ['init handed over to the agent', `vmpod-init: root mounted\n${INIT_HANDOVER_MARKER}, starting agent\n`, 'agent-connect'],
  ];
  for (const [desc, console, want] of cases) t.equal(stuckPhase(console), want, desc);
});

t.test('error message names the phase and carries the console tail', async (t) => {
  const lines = Array.from({ length: 30 }, (_, i) => `line ${i}`).join('\n');
  const m = phaseMessage('pod1', 'agent-connect', 'no answer', lines, 5);
  t.match(m, /^pod VM pod1: agent-connect failed: no answer; guest console \(last 5 lines\):\nline 25\n/);
  t.notMatch(m, /line 24/, 'only the last lines');
  t.match(phaseMessage('pod1', 'qemu-start', 'x', '  \n'), /the guest console is empty$/, 'empty console said so');
});
