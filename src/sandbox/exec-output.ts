// ExecSync output, the same for every controller. Each stream is collected
// up to EXEC_OUTPUT_CAP (kubelet's and containerd's 16 MiB per stream), the
// rest read and dropped so the process never blocks. Both streams together
// must then fit one ExecSyncResponse, which gRPC caps at 16 MiB on our side
// (grpc.max_send_message_length) and on kubelet's: containerd keeps 16 MiB of
// each stream, so a command writing more than 16 MiB in all gets a gRPC
// error instead of its output. Here the pair is cut to fit, and a cut
// stream ends with a marker that says how much was dropped.

import { EXEC_OUTPUT_CAP } from './controller';

/** What stdout and stderr may hold together: the gRPC limit less room for the rest of the message (field tags, lengths, exit code). */
export const EXEC_RESPONSE_BUDGET = EXEC_OUTPUT_CAP - 64 * 1024;

/** Ends a stream that was cut. */
export function truncationMarker(droppedBytes: number): string {
  return `\n[vmpod: output truncated, ${droppedBytes} bytes dropped]\n`;
}

/** One stream of an exec: the first `cap` bytes kept, the rest counted. */
export class ExecStreamCollector {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  /** Bytes read and not kept (beyond the cap), plus any the producer reports lost. */
  dropped = 0;

  constructor(private readonly cap = EXEC_OUTPUT_CAP) {}

  push(b: Buffer): void {
    const room = Math.max(0, this.cap - this.size);
    const keep = b.length > room ? b.subarray(0, room) : b;
    if (keep.length > 0) {
      this.chunks.push(keep);
      this.size += keep.length;
    }
    this.dropped += b.length - keep.length;
  }

  collected(): { data: Buffer; dropped: number } {
    return { data: Buffer.concat(this.chunks), dropped: this.dropped };
  }
}

interface Collected {
  data: Buffer;
  dropped: number;
}

/**
 * stdout and stderr cut so that together they take at most `budget` bytes,
 * markers included (pure). Nothing is cut if both fit. Otherwise the smaller
 * stream keeps up to half of the budget and the larger one the rest, so a
 * flood on one stream cannot hide the other. A stream cut here or already
 * cut at collection ends with truncationMarker.
 */
export function fitExecOutput(stdout: Collected, stderr: Collected, budget = EXEC_RESPONSE_BUDGET): { stdout: Buffer; stderr: Buffer } {
  // Upper bound of a stream's marker: the most it can report is everything it read.
  const markerLen = (c: Collected): number => Buffer.byteLength(truncationMarker(c.dropped + c.data.length));
  const need = (c: Collected): number => c.data.length + (c.dropped > 0 ? markerLen(c) : 0);
  const [a, b] = [stdout, stderr];
  let allot: [number, number];
  if (need(a) + need(b) <= budget) {
    allot = [need(a), need(b)];
  } else {
    const half = Math.floor(budget / 2);
    if (need(a) <= need(b)) {
      const small = Math.min(need(a), half);
      allot = [small, budget - small];
    } else {
      const small = Math.min(need(b), half);
      allot = [budget - small, small];
    }
  }
  const cut = (c: Collected, room: number): Buffer => {
    if (c.dropped === 0 && c.data.length <= room) return c.data;
    const keep = Math.max(0, Math.min(c.data.length, room - markerLen(c)));
    const marker = Buffer.from(truncationMarker(c.dropped + c.data.length - keep));
    // A budget too small for even the marker (never the case with the real one) keeps what fits of it.
    return Buffer.concat([c.data.subarray(0, keep), marker]).subarray(0, Math.max(0, room));
  };
  return { stdout: cut(a, allot[0]), stderr: cut(b, allot[1]) };
}
