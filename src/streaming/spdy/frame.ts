// SPDY/3.1 frames as values, and their encoding (pure functions). The layout
// is the one moby/spdystream's framer (what client-go, crictl and kubelet
// use) reads and writes: an 8-byte header, big-endian fields, header blocks
// compressed by the connection's one compression context (header-zlib.ts).

export const SPDY_VERSION = 3;

export const ControlType = {
  SynStream: 1,
  SynReply: 2,
  RstStream: 3,
  Settings: 4,
  Ping: 6,
  GoAway: 7,
  Headers: 8,
  WindowUpdate: 9,
} as const;
export type ControlType = (typeof ControlType)[keyof typeof ControlType];

/** FLAG_FIN on DATA, SYN_STREAM, SYN_REPLY and HEADERS: the sender's last frame on that stream. */
export const FLAG_FIN = 0x01;
/** FLAG_UNIDIRECTIONAL on SYN_STREAM: the receiver may not send on this stream. */
export const FLAG_UNIDIRECTIONAL = 0x02;

/** RST_STREAM status codes (SPDY/3 section 2.4.2). */
export const RstStatus = {
  PROTOCOL_ERROR: 1,
  INVALID_STREAM: 2,
  REFUSED_STREAM: 3,
  UNSUPPORTED_VERSION: 4,
  CANCEL: 5,
  INTERNAL_ERROR: 6,
  FLOW_CONTROL_ERROR: 7,
  STREAM_IN_USE: 8,
  STREAM_ALREADY_CLOSED: 9,
  FRAME_TOO_LARGE: 11,
} as const;

/** GOAWAY status codes. */
export const GoAwayStatus = { OK: 0, PROTOCOL_ERROR: 1, INTERNAL_ERROR: 2 } as const;

/** The largest payload the 24-bit length field can carry. */
export const MAX_FRAME_PAYLOAD = 0xffffff;

/** A frame as read off the wire; header blocks are still compressed (`block`). */
export type Frame =
  | { type: 'data'; streamId: number; flags: number; data: Buffer }
  | { type: 'syn_stream'; flags: number; streamId: number; associatedId: number; priority: number; block: Buffer }
  | { type: 'syn_reply'; flags: number; streamId: number; block: Buffer }
  | { type: 'headers'; flags: number; streamId: number; block: Buffer }
  | { type: 'rst_stream'; streamId: number; status: number }
  | { type: 'settings'; flags: number; entries: { flags: number; id: number; value: number }[] }
  | { type: 'ping'; id: number }
  | { type: 'goaway'; lastGoodStreamId: number; status: number }
  | { type: 'window_update'; streamId: number; delta: number };

function controlHeader(type: ControlType, flags: number, length: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt16BE(0x8000 | SPDY_VERSION, 0);
  b.writeUInt16BE(type, 2);
  b.writeUInt32BE(((flags & 0xff) << 24) | length, 4);
  return b;
}

function u32(...values: number[]): Buffer {
  const b = Buffer.alloc(4 * values.length);
  values.forEach((v, i) => b.writeUInt32BE(v >>> 0, 4 * i));
  return b;
}

export function encodeData(streamId: number, data: Buffer, flags = 0): Buffer {
  if (data.length > MAX_FRAME_PAYLOAD) throw new RangeError(`DATA payload of ${data.length} bytes exceeds the 24-bit length`);
  const h = Buffer.alloc(8);
  h.writeUInt32BE(streamId & 0x7fffffff, 0);
  h.writeUInt32BE(((flags & 0xff) << 24) | data.length, 4);
  return Buffer.concat([h, data]);
}

/** SYN_STREAM; `block` is the already-compressed header block. Priority 0 (highest), slot 0, as spdystream sends. */
export function encodeSynStream(streamId: number, block: Buffer, flags = 0, associatedId = 0, priority = 0): Buffer {
  const body = Buffer.alloc(10);
  body.writeUInt32BE(streamId & 0x7fffffff, 0);
  body.writeUInt32BE(associatedId & 0x7fffffff, 4);
  body.writeUInt8((priority & 0x7) << 5, 8);
  body.writeUInt8(0, 9);
  return Buffer.concat([controlHeader(ControlType.SynStream, flags, 10 + block.length), body, block]);
}

export function encodeSynReply(streamId: number, block: Buffer, flags = 0): Buffer {
  return Buffer.concat([controlHeader(ControlType.SynReply, flags, 4 + block.length), u32(streamId & 0x7fffffff), block]);
}

export function encodeHeaders(streamId: number, block: Buffer, flags = 0): Buffer {
  return Buffer.concat([controlHeader(ControlType.Headers, flags, 4 + block.length), u32(streamId & 0x7fffffff), block]);
}

export function encodeRstStream(streamId: number, status: number): Buffer {
  return Buffer.concat([controlHeader(ControlType.RstStream, 0, 8), u32(streamId & 0x7fffffff, status)]);
}

export function encodeSettings(entries: readonly { flags: number; id: number; value: number }[], flags = 0): Buffer {
  const body = u32(entries.length, ...entries.flatMap((e) => [((e.flags & 0xff) << 24) | (e.id & 0xffffff), e.value]));
  return Buffer.concat([controlHeader(ControlType.Settings, flags, body.length), body]);
}

export function encodePing(id: number): Buffer {
  return Buffer.concat([controlHeader(ControlType.Ping, 0, 4), u32(id)]);
}

export function encodeGoAway(lastGoodStreamId: number, status: number): Buffer {
  return Buffer.concat([controlHeader(ControlType.GoAway, 0, 8), u32(lastGoodStreamId & 0x7fffffff, status)]);
}

export function encodeWindowUpdate(streamId: number, delta: number): Buffer {
  return Buffer.concat([controlHeader(ControlType.WindowUpdate, 0, 8), u32(streamId & 0x7fffffff, delta & 0x7fffffff)]);
}
