// PortForward into a VM pod: the pod IP lives in the guest, so a byte
// stream to a pod port is the agent's PortForward call (a TCP connection
// made by the agent inside the guest), wrapped as a Node Duplex for the
// streaming server. Registered with PodNetwork.setVmPortOpener.

import { Duplex } from 'node:stream';
import { MAX_STREAM_CHUNK, type AgentClient } from '../../agent-client';

export async function openGuestPort(agent: AgentClient, port: number): Promise<Duplex> {
  const s = await agent.portForward(port);
  const d = new Duplex({
    read() {
      /* data is pushed as it arrives */
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
      cb(err);
    },
  });
  void (async () => {
    try {
      for await (const b of s) d.push(b);
      d.push(null);
    } catch (err) {
      d.destroy(err as Error);
    }
  })();
  return d;
}
