// A gRPC server on Node's own HTTP/2 (nghttp2), for the unary and
// server-streaming calls CRI has. It replaces grpc-js's server in the
// daemon, which cost about 0.1 ms more of the daemon's CPU per small call
// (0.69 against 0.58 ms per Version call, A/B, docs/performance.md "sixth
// round"; most of the rest is Node's HTTP/2 session and the socket's
// writes). What a CRI server needs is small: route by `:path`, read one length-prefixed request, honour
// `grpc-timeout`, notice a cancel, answer with one message or a stream of
// them and a status. No compression (kubelet and crictl send none) and no
// client streams (CRI has none).
//
// Connections are handed in by whoever accepted them (`serve`): the CRI
// listener passes each through the `:authority` rewriter first
// (src/cri/transport).

import { constants as h2, createServer, type IncomingHttpHeaders, type Http2Server, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import type { Duplex } from 'node:stream';
import { GrpcStatus } from '../../../common/errors';
import { Call, type CallStatus, type GrpcCall, type ServerStreamCall } from './call';
import { MessageFramingError, MessageReader } from './messages';
import { parseGrpcTimeout } from './metadata';

interface MethodCodec {
  requestDeserialize(bytes: Buffer): unknown;
  responseSerialize(value: unknown): Buffer;
}

/** A unary method: the handler's resolved value is the answer; a rejection becomes the status `toStatus` gives. */
export interface UnaryMethod extends MethodCodec {
  responseStream: false;
  handle(call: GrpcCall): Promise<unknown>;
}

/** A server-streaming method: the handler writes its messages; resolving ends the stream with OK. */
export interface ServerStreamMethod extends MethodCodec {
  responseStream: true;
  handle(call: ServerStreamCall): Promise<void>;
}

export type GrpcMethod = UnaryMethod | ServerStreamMethod;

export interface GrpcServerOptions {
  /** Largest request message taken, in bytes. */
  maxReceiveMessageBytes: number;
  /** Largest response message sent, in bytes. */
  maxSendMessageBytes: number;
  /** The status a handler's rejection ends its call with. */
  toStatus(err: unknown): CallStatus;
}

export class GrpcServer {
  private readonly h2: Http2Server;
  private readonly sessions = new Set<ServerHttp2Session>();

  /** `methods` by path, `/package.Service/Method`. */
  constructor(
    private readonly methods: ReadonlyMap<string, GrpcMethod>,
    private readonly opts: GrpcServerOptions,
  ) {
    // Node's session memory limit refuses streams once a session holds more
    // than 10 MiB in flight, which one 16 MiB ListContainers answer passes;
    // grpc-js lifts it the same way. The socket is root's alone (0660).
    this.h2 = createServer({ maxSessionMemory: Number.MAX_SAFE_INTEGER });
    this.h2.on('session', (s: ServerHttp2Session) => {
      this.sessions.add(s);
      s.once('close', () => this.sessions.delete(s));
      // A broken session is the client's business; its streams see 'close'.
      s.on('error', () => undefined);
    });
    this.h2.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => this.onStream(stream, headers));
  }

  /** Serve HTTP/2 on an accepted connection. */
  serve(conn: Duplex): void {
    this.h2.emit('connection', conn);
  }

  /** HTTP/2 sessions open now. */
  get sessionCount(): number {
    return this.sessions.size;
  }

  /** Close every session at once; calls still running see their call cancelled. */
  close(): void {
    for (const s of this.sessions) s.destroy(undefined, h2.NGHTTP2_CANCEL);
  }

  private onStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    // A reset or broken stream is the client's business; the call sees 'close'.
    stream.on('error', () => undefined);
    if (headers[h2.HTTP2_HEADER_METHOD] !== 'POST') return refuseHttp(stream, h2.HTTP_STATUS_METHOD_NOT_ALLOWED);
    const type = headers[h2.HTTP2_HEADER_CONTENT_TYPE];
    if (typeof type !== 'string' || !/^application\/grpc($|[+;])/.test(type)) return refuseHttp(stream, h2.HTTP_STATUS_UNSUPPORTED_MEDIA_TYPE);
    // Pseudo-headers come once (nghttp2 refuses a repeated one), so these are strings.
    const path = String(headers[h2.HTTP2_HEADER_PATH] ?? '');
    const method = this.methods.get(path);
    const timeout = headers['grpc-timeout'];
    const ms = typeof timeout === 'string' ? parseGrpcTimeout(timeout) : undefined;
    const call = new Call(
      stream,
      String(headers[h2.HTTP2_HEADER_AUTHORITY] ?? ''),
      ms === undefined ? Infinity : Date.now() + ms,
      method ? (v) => method.responseSerialize(v) : emptyMessage,
      this.opts.maxSendMessageBytes,
    );
    if (!method) return refuseCall(stream, call, { code: GrpcStatus.UNIMPLEMENTED, details: `vmpod does not serve the method ${path}` });
    if (typeof timeout === 'string' && ms === undefined) return refuseCall(stream, call, { code: GrpcStatus.INTERNAL, details: `invalid grpc-timeout value "${timeout}"` });
    this.readRequest(stream, call, method);
  }

  /** Collect the request's one message, then run the handler. */
  private readRequest(stream: ServerHttp2Stream, call: Call, method: GrpcMethod): void {
    const reader = new MessageReader(this.opts.maxReceiveMessageBytes);
    let request: Buffer | undefined;
    let refused = false;
    const refuse = (status: CallStatus): void => {
      refused = true;
      call.fail(status);
      // The answer is complete; tell the client to stop sending (RFC 9113 8.1) rather than read what is left.
      if (!stream.destroyed) stream.close(h2.NGHTTP2_NO_ERROR);
    };
    stream.on('data', (chunk: Buffer) => {
      if (refused) return;
      let messages: Buffer[];
      try {
        messages = reader.push(chunk);
      } catch (err) {
        const e = err as MessageFramingError;
        return refuse({ code: e.kind === 'too-large' ? GrpcStatus.RESOURCE_EXHAUSTED : GrpcStatus.UNIMPLEMENTED, details: e.message });
      }
      if (messages.length === 0) return;
      if (request !== undefined || messages.length > 1) return refuse({ code: GrpcStatus.UNIMPLEMENTED, details: 'more than one request message for a method that takes one' });
      request = messages[0];
    });
    stream.once('end', () => {
      if (refused || call.isEnded) return;
      if (request === undefined || !reader.atBoundary) {
        return call.fail({ code: GrpcStatus.UNIMPLEMENTED, details: reader.atBoundary ? 'no request message for a method that takes one' : 'the request ended inside a message' });
      }
      this.run(call, method, request);
    });
  }

  private run(call: Call, method: GrpcMethod, body: Buffer): void {
    try {
      call.request = method.requestDeserialize(body);
    } catch (err) {
      return call.fail({ code: GrpcStatus.INTERNAL, details: `the request does not decode: ${(err as Error).message}` });
    }
    const failed = (err: unknown): void => call.fail(this.opts.toStatus(err));
    if (method.responseStream) {
      method.handle(call).then(() => call.finish(), failed);
    } else {
      method.handle(call).then((res) => call.answer(res), failed);
    }
  }
}

const emptyMessage = (): Buffer => Buffer.alloc(0);

// Refused before its body was read: what the client still sends is read and
// dropped, so that its half of the stream ends and the stream closes.

/** An answer that is not gRPC at all: an HTTP status and nothing else. */
function refuseHttp(stream: ServerHttp2Stream, status: number): void {
  if (!stream.destroyed && !stream.closed) stream.respond({ [h2.HTTP2_HEADER_STATUS]: status }, { endStream: true });
  stream.resume();
}

function refuseCall(stream: ServerHttp2Stream, call: Call, status: CallStatus): void {
  call.fail(status);
  stream.resume();
}
