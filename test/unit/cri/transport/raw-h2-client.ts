// A raw HTTP/2 client over a unix socket, for tests that must send what
// real gRPC clients send and Node's own client would not let a test send:
// the socket path as :authority (Go gRPC before 1.30 kubelet), upper-case
// names, connection headers, hand-made frames. It compresses like Go's
// client (dynamic table, Huffman) and decodes the server's answers with
// the daemon's own HPACK decoder.

import { connect, type Socket } from 'node:net';
import { HpackDecoder, type HeaderField } from '../../../../src/cri/transport/hpack/decoder';
import { CLIENT_PREFACE, Flag, FRAME_HEADER_LENGTH, FrameType, readFrameHeader, writeFrameHeader } from '../../../../src/cri/transport/frame';
import { TestHpackEncoder, type EncoderOptions } from './hpack-test-encoder';

export interface RawResponse {
  headers?: HeaderField[];
  trailers?: HeaderField[];
  data: Buffer;
  /** RST_STREAM error code, when the server reset the stream. */
  rstCode?: number;
  /** The connection closed before the stream ended. */
  connectionClosed?: boolean;
}

export function frame(type: number, flags: number, streamId: number, payload: Buffer | number[] = []): Buffer {
  const p = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
  const out = Buffer.alloc(FRAME_HEADER_LENGTH + p.length);
  writeFrameHeader(out, 0, { length: p.length, type, flags, streamId });
  p.copy(out, FRAME_HEADER_LENGTH);
  return out;
}

/** The client's opening: preface and an empty SETTINGS frame. */
export const CLIENT_OPENING = Buffer.concat([CLIENT_PREFACE, frame(FrameType.SETTINGS, 0, 0)]);

/** A gRPC length-prefixed message (uncompressed). */
export function grpcMessage(body: Buffer): Buffer {
  const out = Buffer.alloc(5 + body.length);
  out.writeUInt32BE(body.length, 1);
  body.copy(out, 5);
  return out;
}

/** The header fields a Go gRPC client (kubelet 1.29) sends for a unary call, in its order. */
export function grpcRequestHeaders(path: string, authority: string, extra: ReadonlyArray<readonly [string, string]> = []): Array<readonly [string, string]> {
  return [
    [':method', 'POST'],
    [':scheme', 'http'],
    [':path', path],
    [':authority', authority],
    ['content-type', 'application/grpc'],
    ['user-agent', 'grpc-go/1.58.3'],
    ['te', 'trailers'],
    ['grpc-timeout', '9999m'],
    ...extra,
  ];
}

export const field = (fields: HeaderField[] | undefined, name: string): string | undefined => fields?.find((f) => f.name === name)?.value;

export class RawH2Client {
  readonly encoder: TestHpackEncoder;
  private readonly decoder = new HpackDecoder(4096);
  private buf = Buffer.alloc(0);
  private nextStream = 1;
  private readonly streams = new Map<number, { res: RawResponse; done: (r: RawResponse) => void }>();
  private headerBlock: { streamId: number; flags: number; parts: Buffer[] } | undefined;
  /** Every SETTINGS frame the server sent, merged in order, by identifier. */
  serverSettings: Map<number, number> | undefined;
  /** How many SETTINGS frames (not ACKs) the server sent. */
  serverSettingsFrames = 0;
  goawayCode: number | undefined;
  readonly closed: Promise<void>;

  private constructor(
    readonly socket: Socket,
    encoder: EncoderOptions,
    private readonly ackSettings: boolean,
  ) {
    this.encoder = new TestHpackEncoder(encoder);
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        for (const s of this.streams.values()) s.done({ ...s.res, connectionClosed: true });
        this.streams.clear();
        resolve();
      }),
    );
  }

  /** `ackSettings: false`: a client that never ACKs the server's SETTINGS (RFC 9113 says it must). */
  static connect(path: string, opts: { encoder?: EncoderOptions; opening?: boolean; ackSettings?: boolean } = {}): Promise<RawH2Client> {
    return new Promise((resolve, reject) => {
      const socket = connect(path);
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        const c = new RawH2Client(socket, opts.encoder ?? { huffman: true, indexing: true }, opts.ackSettings !== false);
        if (opts.opening !== false) socket.write(CLIENT_OPENING);
        resolve(c);
      });
    });
  }

  write(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** Opens the next stream: HEADERS (encoded now, so the dynamic table follows send order) and an optional body. */
  request(fields: ReadonlyArray<readonly [string, string] | HeaderField>, body?: Buffer): Promise<RawResponse> {
    const streamId = this.nextStream;
    this.nextStream += 2;
    const block = this.encoder.encode(fields);
    const bytes = [frame(FrameType.HEADERS, Flag.END_HEADERS | (body ? 0 : Flag.END_STREAM), streamId, block)];
    if (body) bytes.push(frame(FrameType.DATA, Flag.END_STREAM, streamId, body));
    const answer = this.expect(streamId);
    this.write(Buffer.concat(bytes));
    return answer;
  }

  /** A unary gRPC call the way kubelet 1.29 makes it. */
  unary(path: string, authority: string, body: Buffer, extra: ReadonlyArray<readonly [string, string]> = []): Promise<RawResponse> {
    return this.request(grpcRequestHeaders(path, authority, extra), grpcMessage(body));
  }

  /** Waits for the answer on a stream the test opened with hand-made frames. */
  expect(streamId: number): Promise<RawResponse> {
    this.nextStream = Math.max(this.nextStream, streamId + 2);
    return new Promise((done) => this.streams.set(streamId, { res: { data: Buffer.alloc(0) }, done }));
  }

  close(): Promise<void> {
    this.socket.destroy();
    return this.closed;
  }

  private finish(streamId: number, patch: Partial<RawResponse> = {}): void {
    const s = this.streams.get(streamId);
    if (!s) return;
    this.streams.delete(streamId);
    s.done({ ...s.res, ...patch });
  }

  private onData(d: Buffer): void {
    this.buf = Buffer.concat([this.buf, d]);
    while (this.buf.length >= FRAME_HEADER_LENGTH) {
      const h = readFrameHeader(this.buf);
      if (this.buf.length < FRAME_HEADER_LENGTH + h.length) return;
      const payload = this.buf.subarray(FRAME_HEADER_LENGTH, FRAME_HEADER_LENGTH + h.length);
      this.buf = this.buf.subarray(FRAME_HEADER_LENGTH + h.length);
      this.onFrame(h.type, h.flags, h.streamId, payload);
    }
  }

  private onFrame(type: number, flags: number, streamId: number, payload: Buffer): void {
    const s = this.streams.get(streamId);
    switch (type) {
      case FrameType.SETTINGS:
        if (flags & Flag.ACK) return;
        this.serverSettings ??= new Map();
        this.serverSettingsFrames++;
        for (let i = 0; i + 6 <= payload.length; i += 6) this.serverSettings.set(payload.readUInt16BE(i), payload.readUInt32BE(i + 2));
        if (this.ackSettings) this.write(frame(FrameType.SETTINGS, Flag.ACK, 0));
        return;
      case FrameType.PING:
        if (!(flags & 0x1)) this.write(frame(FrameType.PING, 0x1, 0, payload));
        return;
      case FrameType.GOAWAY:
        this.goawayCode = payload.readUInt32BE(4);
        return;
      case FrameType.RST_STREAM:
        this.finish(streamId, { rstCode: payload.readUInt32BE(0) });
        return;
      case FrameType.DATA:
        if (s) s.res.data = Buffer.concat([s.res.data, payload]);
        if (flags & Flag.END_STREAM) this.finish(streamId);
        return;
      case FrameType.HEADERS:
        this.headerBlock = { streamId, flags, parts: [payload] };
        break;
      case FrameType.CONTINUATION:
        this.headerBlock?.parts.push(payload);
        flags = flags | (this.headerBlock?.flags ?? 0);
        break;
      default:
        return;
    }
    if (!(flags & Flag.END_HEADERS) || !this.headerBlock) return;
    const block = this.headerBlock;
    this.headerBlock = undefined;
    // Node sends neither padding nor priority on responses.
    const fields = this.decoder.decode(Buffer.concat(block.parts), 1 << 20);
    const st = this.streams.get(block.streamId);
    if (st) {
      if (!st.res.headers) st.res.headers = fields;
      else st.res.trailers = fields;
    }
    if (block.flags & Flag.END_STREAM) this.finish(block.streamId);
  }
}
