// The agent's own last log lines, kept in memory so the host can read them
// over ReadAgentLog (the console may be unread or lost). Bounded by line count
// and by msg bytes; the oldest lines are evicted first and counted, so the
// oldest kept line always has seq == dropped.

import { AGENT_LOG_LINE_CHARS, AGENT_LOG_READ_LINES, AGENT_LOG_RING_BYTES, AGENT_LOG_RING_LINES } from '../../common/agent-protocol/limits';
import { unixNanoNumber } from '../../common/time';

export interface LogLine {
  seq: number;
  timeUnixNano: number;
  level: string;
  msg: string;
}

export interface LogRead {
  lines: LogLine[];
  nextSeq: number;
  dropped: number;
}

/** Cut to max characters without splitting a surrogate pair. */
export function cutLine(s: string, max = AGENT_LOG_LINE_CHARS): string {
  if (s.length <= max) return s;
  let end = max - 1; // room for the ellipsis
  const c = s.charCodeAt(end - 1);
  if (c >= 0xd800 && c <= 0xdbff) end--;
  return `${s.slice(0, end)}…`;
}

export class LogRing {
  private lines: Array<LogLine & { bytes: number }> = [];
  /** Index of the oldest kept line in `lines` (evicted entries before it are compacted lazily). */
  private head = 0;
  private bytes = 0;
  private nextSeq = 0;
  private dropped = 0;

  constructor(
    private readonly maxLines = AGENT_LOG_RING_LINES,
    private readonly maxBytes = AGENT_LOG_RING_BYTES,
  ) {}

  push(level: string, msg: string, timeUnixNano = unixNanoNumber()): void {
    const text = cutLine(msg);
    const bytes = Buffer.byteLength(text);
    this.lines.push({ seq: this.nextSeq++, timeUnixNano, level, msg: text, bytes });
    this.bytes += bytes;
    while (this.lines.length - this.head > this.maxLines || (this.bytes > this.maxBytes && this.lines.length - this.head > 1)) {
      this.bytes -= this.lines[this.head].bytes;
      this.head++;
      this.dropped++;
    }
    if (this.head > 1024) {
      this.lines = this.lines.slice(this.head);
      this.head = 0;
    }
  }

  /** Lines with seq >= sinceSeq, oldest first, within budgetBytes of msg text (at least one line if any). */
  read(sinceSeq: number, budgetBytes: number, maxLines = AGENT_LOG_READ_LINES): LogRead {
    const out: LogLine[] = [];
    let i = this.head + Math.max(0, sinceSeq - this.dropped);
    let used = 0;
    for (; i < this.lines.length && out.length < maxLines; i++) {
      const l = this.lines[i];
      if (out.length > 0 && used + l.bytes > budgetBytes) break;
      used += l.bytes;
      out.push({ seq: l.seq, timeUnixNano: l.timeUnixNano, level: l.level, msg: l.msg });
    }
    const nextSeq = out.length ? out[out.length - 1].seq + 1 : Math.min(Math.max(sinceSeq, this.dropped), this.nextSeq);
    return { lines: out, nextSeq, dropped: this.dropped };
  }

  get stats(): { kept: number; bytes: number; dropped: number; nextSeq: number } {
    return { kept: this.lines.length - this.head, bytes: this.bytes, dropped: this.dropped, nextSeq: this.nextSeq };
  }
}
