// PortForward into a VM pod: the pod IP lives in the guest, so a byte
// stream to a pod port is the agent's PortForward call (a TCP connection
// made by the agent inside the guest), wrapped as a Node Duplex for the
// streaming server. The microvm controller's portForward returns it.

import { Duplex } from 'node:stream';
import { UnavailableError } from '../../../common/errors';
import { MAX_STREAM_CHUNK, type AgentClient, type PortForwardStream } from '../../agent-client';

/** How long the guest agent gets to show it took a port-forward up. */
export const GUEST_PORT_ANSWER_TIMEOUT_MS = 10_000;

export interface GuestPortOptions {
  /** Named in errors. */
  podId: string;
  answerTimeoutMs?: number;
}

/**
 * The dial's deadline. The agent's protocol says nothing when its connection
 * to the guest port is made (the first thing on the stream is data, which a
 * client-speaks-first server never sends unasked), so the dial waits for the
 * agent to answer a Health call sent after the PortForward request, on the
 * same connection, within the deadline: a guest whose agent does not answer
 * fails the dial with an error naming the pod and port, which the streaming
 * server writes on the stream's error stream. A refusal the agent answers
 * first (nothing listens there) fails it too. An agent that answers Health
 * but leaves the stream unanswered holds only that stream, until the
 * streaming server's idle timeout (docs/security.md).
 */
async function agentAnswers(agent: AgentClient, s: PortForwardStream, what: string, ms: number): Promise<void> {
  const ended = s.done().then(
    () => ({ ended: true as const }),
    (err: unknown) => ({ failed: err }),
  );
  const alive = agent.health({ timeoutMs: ms }).then(
    () => ({ alive: true as const }),
    (err: unknown) => ({ noAnswer: err }),
  );
  const r = await Promise.race([ended, alive]);
  if ('failed' in r) throw new UnavailableError(`${what}: ${(r.failed as Error).message}`, { cause: r.failed });
  if ('noAnswer' in r) throw new UnavailableError(`${what}: the guest agent did not answer within ${ms} ms (${(r.noAnswer as Error).message})`, { cause: r.noAnswer });
}

export async function openGuestPort(agent: AgentClient, port: number, opts: GuestPortOptions): Promise<Duplex> {
  const s = await agent.portForward(port);
  try {
    await agentAnswers(agent, s, `pod ${opts.podId}: port-forward to guest port ${port}`, opts.answerTimeoutMs ?? GUEST_PORT_ANSWER_TIMEOUT_MS);
  } catch (err) {
    s.cancel();
    throw err;
  }
  // Set while the reader has enough buffered: the pull below waits for read(),
  // so data the guest sends stays in the stream's bounded queue, not here.
  let wantMore: (() => void) | undefined;
  const d = new Duplex({
    read() {
      const w = wantMore;
      wantMore = undefined;
      w?.();
    },
    write(chunk: Buffer, _enc, cb) {
      void (async () => {
        for (let off = 0; off < chunk.length; off += MAX_STREAM_CHUNK) {
          if (!s.send(chunk.subarray(off, off + MAX_STREAM_CHUNK))) await s.drained();
        }
      })().then(() => cb(), cb);
    },
    final(cb) {
      s.closeSend();
      cb();
    },
    destroy(err, cb) {
      s.cancel();
      wantMore?.(); // let the pull see the end
      cb(err);
    },
  });
  void (async () => {
    try {
      for await (const b of s) {
        if (!d.push(b)) await new Promise<void>((resolve) => (wantMore = resolve));
        if (d.destroyed) return;
      }
      d.push(null);
    } catch (err) {
      d.destroy(err as Error);
    }
  })();
  return d;
}
