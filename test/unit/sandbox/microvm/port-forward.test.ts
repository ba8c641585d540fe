// openGuestPort with a made-up agent stream: data the guest sends is pulled
// only as fast as the reader reads (it used to be pushed into the Duplex
// without limit), a destroyed stream stops the pull, and the dial has a
// deadline (it had none: a guest that never answered held it forever).

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
    done: () => new Promise<void>(() => undefined),
    async *[Symbol.asyncIterator]() {
      for (let i = 0; i < chunks && !cancelled; i++) {
        pulled++;
        yield Buffer.alloc(64 * 1024, i % 256);
      }
    },
  };
  return { agent: { portForward: async () => stream, health: async () => ({}) } as unknown as AgentClient, pulled: () => pulled, cancelled: () => cancelled };
}

const ticks = async (n: number): Promise<void> => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

t.test('a slow reader holds the guest back', async (t) => {
  const f = flood(1000);
  const d = await openGuestPort(f.agent, 80, { podId: 'pod1' });
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
  const d = await openGuestPort(f.agent, 80, { podId: 'pod1' });
  await ticks(20);
  d.destroy();
  await ticks(20);
  t.ok(f.cancelled(), 'cancelled');
  t.ok(f.pulled() < 10, `no more pulled after the destroy (${f.pulled()})`);
});

const never = () => new Promise<never>(() => undefined);

/** An agent whose PortForward stream never says anything, with Health and the stream's end as given. */
function silentGuest(health: (o: { timeoutMs: number }) => Promise<unknown>, done: () => Promise<void>) {
  let cancelled = false;
  let healthCalls = 0;
  const stream = {
    send: () => true,
    drained: async () => undefined,
    closeSend: () => undefined,
    cancel: () => (cancelled = true),
    done,
    [Symbol.asyncIterator]: () => ({ next: never }),
  };
  const agent = {
    portForward: async () => stream,
    health: (o: { timeoutMs: number }) => (healthCalls++, health(o)),
  } as unknown as AgentClient;
  return { agent, cancelled: () => cancelled, healthCalls: () => healthCalls };
}

t.test('a guest that never answers fails the dial with an error naming the pod and port', async (t) => {
  const cases = [
    {
      desc: 'the agent does not answer within the deadline',
      guest: silentGuest((o) => new Promise((_, rej) => setTimeout(() => rej(new Error(`deadline of ${o.timeoutMs} ms exceeded`)), 0)), never),
      want: /^pod pod1: port-forward to guest port 8080: the guest agent did not answer within 50 ms \(deadline of 50 ms exceeded\)$/,
    },
    {
      desc: 'the agent answers the stream with a refusal first',
      guest: silentGuest(never, () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:8080'))),
      want: /^pod pod1: port-forward to guest port 8080: connect ECONNREFUSED/,
    },
  ];
  for (const c of cases) {
    await t.rejects(openGuestPort(c.guest.agent, 8080, { podId: 'pod1', answerTimeoutMs: 50 }), c.want, c.desc);
    t.ok(c.guest.cancelled(), `${c.desc}: the stream is cancelled`);
  }
});

t.test('an agent that answers in time gets the stream, quiet or not', async (t) => {
  const g = silentGuest(async () => ({}), never);
  const d = await openGuestPort(g.agent, 8080, { podId: 'pod1', answerTimeoutMs: 50 });
  t.equal(g.healthCalls(), 1, 'one Health call with the dial');
  t.notOk(g.cancelled(), 'the stream stays open');
  d.destroy();
});
