// ttRPC's own envelope messages (containerd/ttrpc request.go), encoded by hand
// with protobufjs' Reader/Writer: they are tiny and fixed, and hand decoding
// lets us bound every field the peer sends.
//   Request  { string service = 1; string method = 2; bytes payload = 3;
//              int64 timeout_nano = 4; repeated KeyValue metadata = 5; }
//   KeyValue { string key = 1; string value = 2; }
//   Response { google.rpc.Status status = 1; bytes payload = 2; }
//   Status   { int32 code = 1; string message = 2; repeated Any details = 3; }

import { Reader, Writer } from 'protobufjs/minimal';

export interface KeyValue {
  key: string;
  value: string;
}

export interface TtrpcRequest {
  service: string;
  method: string;
  payload: Uint8Array;
  /** 0 = no deadline. */
  timeoutNano: number;
  metadata: KeyValue[];
}

export interface RpcStatus {
  code: number;
  message: string;
}

export interface TtrpcResponse {
  status?: RpcStatus;
  payload: Uint8Array;
}

/** Limits on what we accept from a peer inside a frame that already passed the 4 MiB cap. */
export const ENVELOPE_LIMITS = {
  nameLength: 256,
  metadataEntries: 64,
  metadataLength: 4096,
  statusMessageLength: 4096,
} as const;

export class EnvelopeError extends Error {
  override name = 'EnvelopeError';
}

export function encodeRequest(r: TtrpcRequest): Uint8Array {
  const w = Writer.create();
  if (r.service) w.uint32((1 << 3) | 2).string(r.service);
  if (r.method) w.uint32((2 << 3) | 2).string(r.method);
  if (r.payload.length) w.uint32((3 << 3) | 2).bytes(r.payload);
  if (r.timeoutNano) w.uint32((4 << 3) | 0).int64(r.timeoutNano);
  for (const kv of r.metadata) {
    w.uint32((5 << 3) | 2).fork();
    w.uint32((1 << 3) | 2).string(kv.key);
    w.uint32((2 << 3) | 2).string(kv.value);
    w.ldelim();
  }
  return w.finish();
}

export function encodeResponse(r: TtrpcResponse): Uint8Array {
  const w = Writer.create();
  if (r.status && (r.status.code !== 0 || r.status.message)) {
    w.uint32((1 << 3) | 2).fork();
    if (r.status.code) w.uint32((1 << 3) | 0).int32(r.status.code);
    if (r.status.message) w.uint32((2 << 3) | 2).string(r.status.message);
    w.ldelim();
  }
  if (r.payload.length) w.uint32((2 << 3) | 2).bytes(r.payload);
  return w.finish();
}

/** Throws EnvelopeError (only) on malformed or over-limit input. */
export function decodeRequest(b: Uint8Array): TtrpcRequest {
  return guard(() => {
    const r = Reader.create(b);
    const out: TtrpcRequest = { service: '', method: '', payload: new Uint8Array(0), timeoutNano: 0, metadata: [] };
    while (r.pos < r.len) {
      const tag = r.uint32();
      switch (tag) {
        case (1 << 3) | 2:
          out.service = bounded(r.string(), ENVELOPE_LIMITS.nameLength, 'service');
          break;
        case (2 << 3) | 2:
          out.method = bounded(r.string(), ENVELOPE_LIMITS.nameLength, 'method');
          break;
        case (3 << 3) | 2:
          out.payload = r.bytes();
          break;
        case (4 << 3) | 0:
          out.timeoutNano = longToNumber(r.int64());
          break;
        case (5 << 3) | 2: {
          if (out.metadata.length >= ENVELOPE_LIMITS.metadataEntries) throw new EnvelopeError('too many metadata entries');
          out.metadata.push(decodeKeyValue(r.bytes()));
          break;
        }
        default:
          r.skipType(tag & 7);
      }
    }
    if (out.timeoutNano < 0) throw new EnvelopeError('negative timeout_nano');
    return out;
  });
}

export function decodeResponse(b: Uint8Array): TtrpcResponse {
  return guard(() => {
    const r = Reader.create(b);
    const out: TtrpcResponse = { payload: new Uint8Array(0) };
    while (r.pos < r.len) {
      const tag = r.uint32();
      switch (tag) {
        case (1 << 3) | 2:
          out.status = decodeStatus(r.bytes());
          break;
        case (2 << 3) | 2:
          out.payload = r.bytes();
          break;
        default:
          r.skipType(tag & 7);
      }
    }
    return out;
  });
}

function decodeKeyValue(b: Uint8Array): KeyValue {
  const r = Reader.create(b);
  const kv: KeyValue = { key: '', value: '' };
  while (r.pos < r.len) {
    const tag = r.uint32();
    if (tag === ((1 << 3) | 2)) kv.key = bounded(r.string(), ENVELOPE_LIMITS.metadataLength, 'metadata key');
    else if (tag === ((2 << 3) | 2)) kv.value = bounded(r.string(), ENVELOPE_LIMITS.metadataLength, 'metadata value');
    else r.skipType(tag & 7);
  }
  return kv;
}

function decodeStatus(b: Uint8Array): RpcStatus {
  const r = Reader.create(b);
  const s: RpcStatus = { code: 0, message: '' };
  while (r.pos < r.len) {
    const tag = r.uint32();
    if (tag === ((1 << 3) | 0)) s.code = r.int32();
    else if (tag === ((2 << 3) | 2)) s.message = truncate(r.string(), ENVELOPE_LIMITS.statusMessageLength);
    else r.skipType(tag & 7); // details (Any) are not used by vmpod
  }
  return s;
}

function guard<T>(f: () => T): T {
  try {
    return f();
  } catch (err) {
    if (err instanceof EnvelopeError) throw err;
    throw new EnvelopeError(`malformed protobuf: ${(err as Error).message}`);
  }
}

function bounded(s: string, max: number, what: string): string {
  if (s.length > max) throw new EnvelopeError(`${what} longer than ${max} characters`);
  return s;
}

function truncate(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

/** int64 from protobufjs is a Long when the `long` package is present, else a number. */
export function longToNumber(v: unknown): number {
  if (typeof v === 'number') return v;
  if (v && typeof v === 'object' && 'toNumber' in v && typeof v.toNumber === 'function') {
    return (v as { toNumber(): number }).toNumber();
  }
  return Number(v);
}
