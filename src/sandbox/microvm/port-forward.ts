// PortForward into a VM pod: the pod IP lives in the guest, so a byte
// stream to a pod port is the agent's PortForward call (a TCP connection
// made by the agent inside the guest), wrapped as a Node Duplex for the
// streaming server. Registered with PodNetwork.setVmPortOpener.

import { Duplex } from 'node:stream';
import { MAX_STREAM_CHUNK, type AgentClient } from '../../agent-client';

export async function openGuestPort(agent: AgentClient, port: number): Promise<Duplex> {
  const s = await agent.portForward(port);
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
