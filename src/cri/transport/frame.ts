// The parts of HTTP/2 framing (RFC 9113 section 4 and 6) the rewriter reads
// and writes.

export const FRAME_HEADER_LENGTH = 9;

/** What a client must send first (RFC 9113 3.4), before its SETTINGS frame. */
export const CLIENT_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export const FrameType = {
  DATA: 0x0,
  HEADERS: 0x1,
  PRIORITY: 0x2,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  PUSH_PROMISE: 0x5,
  PING: 0x6,
  GOAWAY: 0x7,
  WINDOW_UPDATE: 0x8,
  CONTINUATION: 0x9,
} as const;

export const Flag = {
  END_STREAM: 0x1,
  /** On SETTINGS and PING (the same bit as END_STREAM): this frame answers one the peer sent. */
  ACK: 0x1,
  END_HEADERS: 0x4,
  PADDED: 0x8,
  PRIORITY: 0x20,
} as const;

/**
 * SETTINGS_MAX_FRAME_SIZE's initial value (RFC 9113 6.5.2): the largest frame
 * every HTTP/2 endpoint accepts. Node's server announces no other, so it is
 * both the largest HEADERS/CONTINUATION a client may send and the size the
 * rewriter splits its own header blocks at.
 */
export const DEFAULT_MAX_FRAME_SIZE = 16_384;

/** SETTINGS_HEADER_TABLE_SIZE's initial value (RFC 9113 6.5.2); Node's server announces no other. */
export const DEFAULT_HEADER_TABLE_SIZE = 4_096;

export interface FrameHeader {
  length: number;
  type: number;
  flags: number;
  streamId: number;
}

export function readFrameHeader(b: Buffer, at = 0): FrameHeader {
  return {
    length: b.readUIntBE(at, 3),
    type: b[at + 3],
    flags: b[at + 4],
    streamId: b.readUInt32BE(at + 5) & 0x7fffffff,
  };
}

export function writeFrameHeader(out: Buffer, at: number, h: FrameHeader): number {
  out.writeUIntBE(h.length, at, 3);
  out[at + 3] = h.type;
  out[at + 4] = h.flags;
  out.writeUInt32BE(h.streamId, at + 5);
  return at + FRAME_HEADER_LENGTH;
}

/**
 * An empty SETTINGS frame. Sent by the listener as the server's connection
 * preface (RFC 9113 3.4) before any HTTP/2 session exists: it announces the
 * defaults, which is what Node's server announces for frame and table size.
 */
export const EMPTY_SETTINGS_FRAME = Buffer.from([0, 0, 0, FrameType.SETTINGS, 0, 0, 0, 0, 0]);
