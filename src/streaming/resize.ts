// The resize stream carries a sequence of JSON objects {"Width":w,"Height":h}
// (client-go encodes one per change with json.Encoder; kubelet decodes them
// with json.Decoder), so object boundaries are found by scanning, not by
// framing. A malformed object ends the stream, as json.Decoder's error does.

import type { TerminalSize } from '../sandbox/controller';

/** Bound on one object: a resize message is tens of bytes. */
const MAX_OBJECT = 4096;

export class ResizeDecoder {
  /** Text of the object being read (from its "{"). */
  private pending = '';
  private depth = 0;
  private inString = false;
  private escaped = false;

  /** Feeds bytes; returns the sizes they complete. Throws on malformed input. */
  push(chunk: Buffer | string): TerminalSize[] {
    const out: TerminalSize[] = [];
    for (const ch of chunk.toString()) {
      if (this.depth === 0) {
        if (ch === '{') {
          this.depth = 1;
          this.pending = ch;
        } else if (!/\s/.test(ch)) {
          throw new Error(`resize stream: unexpected ${JSON.stringify(ch)} between objects`);
        }
        continue;
      }
      this.pending += ch;
      if (this.pending.length > MAX_OBJECT) throw new Error(`resize stream: an object longer than ${MAX_OBJECT} bytes`);
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (ch === '\\') this.escaped = true;
        else if (ch === '"') this.inString = false;
      } else if (ch === '"') {
        this.inString = true;
      } else if (ch === '{') {
        this.depth++;
      } else if (ch === '}' && --this.depth === 0) {
        out.push(toSize(JSON.parse(this.pending) as unknown));
        this.pending = '';
      }
    }
    return out;
  }
}

function toSize(v: unknown): TerminalSize {
  const o = (typeof v === 'object' && v !== null ? v : {}) as Record<string, unknown>;
  const width = o.Width ?? 0;
  const height = o.Height ?? 0;
  if (!isDim(width) || !isDim(height)) throw new Error(`resize stream: Width and Height must be integers 0..65535, got ${JSON.stringify(v)}`);
  return { width, height };
}

function isDim(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 0xffff;
}
