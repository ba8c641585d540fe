// ttRPC server over any Duplex. Handlers are registered per service/method
// and get the request payload plus a context: an AbortSignal that fires at the
// caller's deadline (timeout_nano) or when the connection goes, a way to send
// data frames (server streaming), and the client's data frames when the call
// was opened with flagRemoteOpen (client streaming).

import { Duplex } from 'node:stream';
import { Flag, Frame, MAX_FRAME_LENGTH, MessageType } from './frame';
import { decodeRequest, encodeResponse, EnvelopeError, KeyValue, RpcStatus, TtrpcRequest } from './messages';
import { FrameChannel } from './channel';
import { BoundedQueue } from './queue';
import { ConnectionClosedError, ProtocolViolationError } from './errors';

export interface CallContext {
  readonly service: string;
  readonly method: string;
  readonly metadata: readonly KeyValue[];
  /** Aborted at the caller's deadline, or when the connection closes. */
  readonly signal: AbortSignal;
  /** Send one data frame to the client. False once the connection is gone. */
  send(payload: Uint8Array): boolean;
  /** Resolves when the transport can take more. */
  drained(): Promise<void>;
  /** Data frames from the client (empty unless the call is client-streaming). */
  readonly incoming: AsyncIterable<Buffer>;
}

export type Handler = (payload: Buffer, ctx: CallContext) => Promise<Uint8Array>;

export interface ServerOptions {
  maxFrameLength?: number;
  /** Unread client data per stream. */
  maxStreamBufferBytes?: number;
  /** Called for handler failures (the status is sent to the client either way). */
  onHandlerError?(method: string, err: unknown): void;
}

// google.rpc.Code values used by the server itself.
const Code = { CANCELLED: 1, UNKNOWN: 2, INVALID_ARGUMENT: 3, DEADLINE_EXCEEDED: 4, UNIMPLEMENTED: 12 } as const;

export class TtrpcServer {
  private readonly handlers = new Map<string, Handler>();

  constructor(private readonly opts: ServerOptions = {}) {}

  register(service: string, method: string, handler: Handler): this {
    this.handlers.set(`${service}/${method}`, handler);
    return this;
  }

  /** Serve one connection until it closes. */
  serve(sock: Duplex): ServerConnection {
    return new ServerConnection(sock, this.handlers, this.opts);
  }
}

interface Active {
  abort: AbortController;
  incoming?: BoundedQueue;
}

export class ServerConnection {
  private readonly channel: FrameChannel;
  private readonly active = new Map<number, Active>();
  private lastStreamId = 0;

  constructor(
    sock: Duplex,
    private readonly handlers: Map<string, Handler>,
    private readonly opts: ServerOptions,
  ) {
    this.channel = new FrameChannel(sock, (f) => this.onFrame(f), opts.maxFrameLength ?? MAX_FRAME_LENGTH);
    this.channel.onClose((err) => {
      for (const a of this.active.values()) {
        a.abort.abort(err);
        a.incoming?.fail(err);
      }
      this.active.clear();
    });
  }

  onClose(fn: (err: Error) => void): void {
    this.channel.onClose(fn);
  }

  get closed(): Error | undefined {
    return this.channel.closed;
  }

  /** High-water mark of bytes the frame parser held (for tests and the fuzzer). */
  get maxParserBuffered(): number {
    return this.channel.parser.maxBuffered;
  }

  close(): void {
    this.channel.fail(new ConnectionClosedError('server closed the connection'));
  }

  private sendStatus(streamId: number, status: RpcStatus): void {
    this.channel.send(streamId, MessageType.RESPONSE, 0, encodeResponse({ status, payload: new Uint8Array(0) }));
  }

  private onFrame(f: Frame): void {
    if (f.streamId % 2 !== 1) {
      return this.sendStatus(f.streamId, { code: Code.INVALID_ARGUMENT, message: 'StreamID must be odd for client initiated streams' });
    }
    if (f.type === MessageType.DATA) {
      const a = this.active.get(f.streamId);
      if (!a || !a.incoming) {
        // Late data for a finished call is normal (the client may not know yet).
        if (a === undefined && f.streamId <= this.lastStreamId) return;
        return this.sendStatus(f.streamId, { code: Code.INVALID_ARGUMENT, message: 'StreamID is not an open client stream' });
      }
      if ((f.flags & Flag.NO_DATA) === 0 && !a.incoming.push(f.payload)) {
        a.abort.abort(new Error('client stream buffer overflow'));
        a.incoming.fail(new Error('client stream buffer overflow'));
        return;
      }
      if (f.flags & Flag.REMOTE_CLOSED) a.incoming.end();
      return;
    }
    if (f.type !== MessageType.REQUEST) {
      return this.channel.fail(new ProtocolViolationError(`unexpected message type ${f.type} sent to a server`));
    }
    if (f.streamId <= this.lastStreamId) {
      return this.sendStatus(f.streamId, { code: Code.INVALID_ARGUMENT, message: 'StreamID cannot be re-used and must increment' });
    }
    this.lastStreamId = f.streamId;
    let req: TtrpcRequest;
    try {
      req = decodeRequest(f.payload);
    } catch (err) {
      if (err instanceof EnvelopeError) return this.sendStatus(f.streamId, { code: Code.INVALID_ARGUMENT, message: err.message });
      throw err;
    }
    const name = `${req.service}/${req.method}`;
    const handler = this.handlers.get(name);
    if (!handler) return this.sendStatus(f.streamId, { code: Code.UNIMPLEMENTED, message: `method ${name} not implemented` });
    const abort = new AbortController();
    const incoming = f.flags & Flag.REMOTE_OPEN ? new BoundedQueue(this.opts.maxStreamBufferBytes ?? 16 << 20) : undefined;
    const empty = new BoundedQueue(0);
    empty.end();
    const streamId = f.streamId;
    this.active.set(streamId, { abort, incoming });
    let timer: NodeJS.Timeout | undefined;
    if (req.timeoutNano > 0) {
      // setTimeout takes at most 2^31-1 ms; longer deadlines are effectively none.
      const ms = Math.min(Math.ceil(req.timeoutNano / 1e6), 0x7fffffff);
      timer = setTimeout(() => abort.abort(new Error('deadline exceeded')), ms);
    }
    const ctx: CallContext = {
      service: req.service,
      method: req.method,
      metadata: req.metadata,
      signal: abort.signal,
      send: (p) => this.active.has(streamId) && this.channel.send(streamId, MessageType.DATA, 0, p),
      drained: () => this.channel.drained(),
      incoming: incoming ?? empty,
    };
    const done = (status: RpcStatus | undefined, payload: Uint8Array): void => {
      if (timer) clearTimeout(timer);
      if (!this.active.delete(streamId)) return;
      incoming?.fail(new Error('call finished'));
      let body: Uint8Array;
      try {
        body = encodeResponse({ status, payload });
        if (body.length > MAX_FRAME_LENGTH) throw new RangeError(`response of ${body.length} bytes exceeds the frame cap`);
      } catch (err) {
        body = encodeResponse({ status: { code: Code.UNKNOWN, message: `${name}: ${(err as Error).message}` }, payload: new Uint8Array(0) });
      }
      this.channel.send(streamId, MessageType.RESPONSE, 0, body);
    };
    Promise.resolve()
      .then(() => handler(Buffer.from(req.payload.buffer, req.payload.byteOffset, req.payload.length), ctx))
      .then(
        (out) => done(undefined, out),
        (err: unknown) => {
          this.opts.onHandlerError?.(name, err);
          done(statusOf(err, abort.signal), new Uint8Array(0));
        },
      );
  }
}

/** Typed errors carry their gRPC code (`grpcStatus`, see src/errors.ts); anything else is UNKNOWN. */
function statusOf(err: unknown, signal: AbortSignal): RpcStatus {
  const message = err instanceof Error ? err.message : String(err);
  const g = (err as { grpcStatus?: unknown } | null)?.grpcStatus;
  if (typeof g === 'number' && g > 0 && g <= 16) return { code: g, message };
  if (signal.aborted) return { code: Code.DEADLINE_EXCEEDED, message };
  return { code: Code.UNKNOWN, message };
}
