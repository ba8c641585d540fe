// Moves a guest process's stdout/stderr from the agent to the host: long
// polls ReadStdout/ReadStderr and hands each chunk to a sink (the CRI log
// writer for a container, a capped buffer for ExecSync) until the agent
// reports end of stream. A lost connection is retried (the agent keeps the
// output, bounded, while nobody reads), unless the VM is gone.

import { AgentUnavailableError, type AgentClient } from '../../agent-client';
import { MAX_STREAM_CHUNK } from '../../agent-client';
import type { LogStream } from '../../logs/cri-log';

export interface PumpOptions {
  agent: AgentClient;
  containerId: string;
  execId: string;
  stream: LogStream;
  /** Takes a chunk; a promise it returns is awaited before the next read (backpressure). */
  sink: (chunk: Buffer) => void | Promise<void>;
  /** Told how many bytes the agent dropped since the last report (its buffer was full). */
  onDropped?: (bytes: number) => void;
  /** True once the pump should give up (VM gone, container removed). */
  stopped: () => boolean;
  waitMs?: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** An empty answer that came back sooner than this did not wait as asked. */
const EARLY_EMPTY_MS = 50;
/** How long to wait after such an answer: a guest answering at once must not make the pump spin. */
const EMPTY_BACKOFF_MS = 100;

/** Resolves at end of stream or when stopped(); never rejects. */
export async function pumpOutput(o: PumpOptions): Promise<void> {
  let dropped = 0;
  const req = { container_id: o.containerId, exec_id: o.execId, max_bytes: MAX_STREAM_CHUNK, wait_ms: o.waitMs ?? 5000 };
  while (!o.stopped()) {
    let r;
    const asked = Date.now();
    try {
      r = o.stream === 'stdout' ? await o.agent.readStdout(req) : await o.agent.readStderr(req);
    } catch (err) {
      if (o.stopped()) return;
      // Connection trouble: the agent keeps the output; try again shortly. Anything else
      // (the process is unknown to the agent) ends the stream.
      if (err instanceof AgentUnavailableError) {
        await sleep(500);
        continue;
      }
      return;
    }
    if (r.data.length > 0) await o.sink(Buffer.from(r.data));
    if (r.dropped_bytes > dropped) {
      o.onDropped?.(r.dropped_bytes - dropped);
      dropped = r.dropped_bytes;
    }
    if (r.eof) return;
    if (r.data.length === 0 && Date.now() - asked < EARLY_EMPTY_MS) await sleep(EMPTY_BACKOFF_MS);
  }
}
