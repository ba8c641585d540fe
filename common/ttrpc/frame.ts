// ttRPC framing, wire-identical to containerd/ttrpc (channel.go): every
// message is a 10-byte big-endian header followed by `length` bytes of
// protobuf. The numbers below are the upstream constants.

export const HEADER_LENGTH = 10;
/** Upstream `messageLengthMax` (4 << 20). Frames above it are a protocol violation here. */
export const MAX_FRAME_LENGTH = 4 << 20;

export const MessageType = {
  REQUEST: 0x1,
  RESPONSE: 0x2,
  DATA: 0x3,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

export const Flag = {
  /** The sender will send no more data on this stream. */
  REMOTE_CLOSED: 0x1,
  /** On a request: the client will send data frames after it (client streaming). */
  REMOTE_OPEN: 0x2,
  /** A data frame without payload (used to signal close without a message). */
  NO_DATA: 0x4,
} as const;

export interface FrameHeader {
  length: number;
  streamId: number;
  type: number;
  flags: number;
}

export interface Frame {
  streamId: number;
  type: MessageType;
  flags: number;
  payload: Buffer;
}

export function isKnownMessageType(t: number): t is MessageType {
  return t === MessageType.REQUEST || t === MessageType.RESPONSE || t === MessageType.DATA;
}

export function decodeHeader(b: Uint8Array, offset = 0): FrameHeader {
  const v = new DataView(b.buffer, b.byteOffset + offset, HEADER_LENGTH);
  return { length: v.getUint32(0), streamId: v.getUint32(4), type: v.getUint8(8), flags: v.getUint8(9) };
}

export function encodeHeader(h: FrameHeader): Buffer {
  const b = Buffer.allocUnsafe(HEADER_LENGTH);
  b.writeUInt32BE(h.length >>> 0, 0);
  b.writeUInt32BE(h.streamId >>> 0, 4);
  b.writeUInt8(h.type & 0xff, 8);
  b.writeUInt8(h.flags & 0xff, 9);
  return b;
}

/** Header and payload as one buffer, so a frame is written with a single write(). */
export function encodeFrame(streamId: number, type: MessageType, flags: number, payload: Uint8Array): Buffer {
  if (payload.length > MAX_FRAME_LENGTH) {
    throw new RangeError(`ttrpc frame of ${payload.length} bytes exceeds the ${MAX_FRAME_LENGTH}-byte cap`);
  }
  const b = Buffer.allocUnsafe(HEADER_LENGTH + payload.length);
  b.writeUInt32BE(payload.length, 0);
  b.writeUInt32BE(streamId >>> 0, 4);
  b.writeUInt8(type, 8);
  b.writeUInt8(flags & 0xff, 9);
  b.set(payload, HEADER_LENGTH);
  return b;
}
