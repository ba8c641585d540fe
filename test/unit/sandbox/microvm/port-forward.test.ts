// openGuestPort with a made-up agent stream: data the guest sends is pulled
// only as fast as the reader reads (it used to be pushed into the Duplex
// without limit), and a destroyed stream stops the pull.

import t from 'tap';
import type { AgentClient } from '../../../../src/agent-client';
import { openGuestPort } from '../../../../src/sandbox/microvm/port-forward';

function flood(chunks: number): { agent: AgentClient; pulled: () => number; cancelled: () => boolean } {
  let pulled = 0;
  let cancelled = false;
  const stream = {
    send: () => true,
    drained: async () => undefined,
    closeSend: () => undefined,
    cancel: () => (cancelled = true),
    async *[Symbol.asyncIterator]() {
      for (let i = 0; i < chunks && !cancelled; i++) {
        pulled++;
        yield Buffer.alloc(64 * 1024, i % 256);
      }
    },
  };
  return { agent: { portForward: async () => stream } as unknown as AgentClient, pulled: () => pulled, cancelled: () => cancelled };
}

const ticks = async (n: number): Promise<void> => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

t.test('a slow reader holds the guest back', async (t) => {
  const f = flood(1000);
  const d = await openGuestPort(f.agent, 80);
  await ticks(50);
  const early = f.pulled();
  t.ok(early < 10, `nothing reads: only a few chunks pulled (${early} of 1000)`);
  let bytes = 0;
  for await (const b of d) bytes += (b as Buffer).length;
  t.equal(bytes, 1000 * 64 * 1024, 'a reader gets every byte');
  t.equal(f.pulled(), 1000, 'and the whole stream is pulled');
});

t.test('destroying the stream cancels the guest side and ends the pull', async (t) => {
  const f = flood(1000);
  const d = await openGuestPort(f.agent, 80);
  await ticks(20);
  d.destroy();
  await ticks(20);
  t.ok(f.cancelled(), 'cancelled');
  t.ok(f.pulled() < 10, `no more pulled after the destroy (${f.pulled()})`);
});
