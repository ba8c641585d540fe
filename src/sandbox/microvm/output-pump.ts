// Moves a guest process's stdout/stderr from the agent to the host: long
// polls ReadStdout/ReadStderr and hands each chunk to a sink (the CRI log
// writer for a container, a capped buffer for ExecSync) until the agent
// reports end of stream. A lost connection is retried (the agent keeps the
// output, bounded, while nobody reads), unless the VM is gone.

import { AgentResponseError, AgentUnavailableError, type AgentClient } from '../../agent-client';
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
  /** Cancels a long poll in flight (a streaming session that ends must not leave one behind). */
  signal?: AbortSignal;
  /** Bytes asked per read (default and cap: MAX_STREAM_CHUNK). */
  maxBytes?: number;
}

/** How a pump ended: the stream's end, stopped() or its signal, or an error the agent answered with. */
export type PumpEnd = { end: 'eof' } | { end: 'stopped' } | { end: 'error'; err: unknown };

const DROP_REPORT_EVERY_MS = 10_000;
/**
 * How long a container's long polls (a read of its output, the wait for its
 * exit, and the pod's wait for OOM events) wait in the guest. News answers
 * them at once, so the wait only decides how often a quiet one is asked
 * again, and each ask is work for the guest's vCPU: under TCG, asking every
 * 5 s (reads) and 10 s (exit, OOM) cost an idle VM pod with one container
 * about 8 ms/s of CPU (docs/performance.md, where an idle pod's CPU goes).
 * The host's deadline for a long poll is this plus the client's margin.
 */
export const LONG_POLL_WAIT_MS = 30_000;

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

/** Resolves at end of stream, when stopped(), or on an error other than a lost connection; never rejects. */
export async function pumpOutput(o: PumpOptions): Promise<PumpEnd> {
  let dropped = 0;
  const maxBytes = Math.min(o.maxBytes ?? MAX_STREAM_CHUNK, MAX_STREAM_CHUNK);
  const req = { container_id: o.containerId, exec_id: o.execId, max_bytes: maxBytes, wait_ms: o.waitMs ?? LONG_POLL_WAIT_MS };
  const stopped = (): boolean => o.stopped() || o.signal?.aborted === true;
  while (!stopped()) {
    let r;
    try {
      r = o.stream === 'stdout' ? await o.agent.readStdout(req, { signal: o.signal }) : await o.agent.readStderr(req, { signal: o.signal });
    } catch (err) {
      if (stopped()) return { end: 'stopped' };
      // Connection trouble: the agent keeps the output; try again shortly (a closed client
      // never comes back). Anything else (the process is unknown to the agent) ends the stream.
      if (err instanceof AgentUnavailableError && !o.agent.isClosed) {
        await sleep(500);
        continue;
      }
      return { end: 'error', err };
    }
    // The guest is not trusted to keep to what was asked.
    if (r.data.length > maxBytes)
      return { end: 'error', err: new AgentResponseError(o.stream === 'stdout' ? 'ReadStdout' : 'ReadStderr', 'data', `${r.data.length} bytes where at most ${maxBytes} were asked`) };
    if (r.data.length > 0) await o.sink(Buffer.from(r.data));
    if (r.dropped_bytes > dropped) {
      o.onDropped?.(r.dropped_bytes - dropped);
      dropped = r.dropped_bytes;
    }
    if (r.eof) return { end: 'eof' };
  }
  return { end: 'stopped' };
}
