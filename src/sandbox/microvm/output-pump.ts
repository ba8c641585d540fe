// Moves a guest process's stdout/stderr from the agent to the host: long
// polls ReadStdout/ReadStderr and hands each chunk to a sink (the CRI log
// writer for a container, a capped buffer for ExecSync) until the agent
// reports end of stream. A lost connection is retried (the agent keeps the
// output, bounded, while nobody reads), unless the VM is gone.

import { AgentUnavailableError, type AgentClient } from '../../agent-client';
import { MAX_STREAM_CHUNK } from '../../agent-client';
import type { LogStream } from '../../logs/cri-log';
import type { Logger } from '../../log';
import { sleep } from '../../../common/time';

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

const DROP_REPORT_EVERY_MS = 10_000;

/** An onDropped that warns at most once per 10 s per stream, with the bytes since the last warning (the count comes from the guest). */
export function dropWarning(log: Logger, stream: LogStream): (bytes: number) => void {
  let pending = 0;
  let last = 0;
  return (bytes) => {
    pending += bytes;
    if (Date.now() - last < DROP_REPORT_EVERY_MS) return;
    log.warn({ stream, bytes: pending }, 'guest agent dropped container output');
    pending = 0;
    last = Date.now();
  };
}

/** Resolves at end of stream or when stopped(); never rejects. */
export async function pumpOutput(o: PumpOptions): Promise<void> {
  let dropped = 0;
  const req = { container_id: o.containerId, exec_id: o.execId, max_bytes: MAX_STREAM_CHUNK, wait_ms: o.waitMs ?? 5000 };
  while (!o.stopped()) {
    let r;
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
  }
}
