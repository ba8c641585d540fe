// ttRPC client over any Duplex. One connection multiplexes every call; stream
// ids are odd and increase (upstream rule for client-initiated streams). Every
// call has a deadline: it is sent to the peer as timeout_nano and also
// enforced locally, so a peer that never answers cannot hold a call forever.

import { Duplex } from 'node:stream';
import { Flag, Frame, MAX_FRAME_LENGTH, MessageType } from './frame';
import { decodeResponse, encodeRequest, EnvelopeError, KeyValue } from './messages';
import { FrameChannel } from './channel';
import { BoundedQueue } from './queue';
import { CallCancelledError, ConnectionClosedError, DeadlineExceededError, ProtocolViolationError, RemoteStatusError, StreamOverflowError } from './errors';

export interface CallOptions {
  /** Deadline for the whole call in milliseconds (default: the client's defaultTimeoutMs). */
  timeoutMs?: number;
  signal?: AbortSignal;
  metadata?: KeyValue[];
}

export interface StreamOptions extends CallOptions {
  /** The client sends data frames after the request (upstream flagRemoteOpen). */
  clientStreaming?: boolean;
}

export interface ClientOptions {
  defaultTimeoutMs?: number;
  /** Unread data a single stream may hold before it is failed. */
  maxStreamBufferBytes?: number;
  maxFrameLength?: number;
  /**
   * First stream id (odd). A client that reconnects over a transport that can
   * replay bytes written before the disconnect (virtio-serial holds a guest's
   * blocked writes until the host reconnects) continues the id sequence of
   * the previous connection: answers for ids below this one are stale and
   * dropped, never mistaken for answers to new calls.
   */
  firstStreamId?: number;
}

/**
 * Whether frames for odd stream ids this client never opened are dropped
 * instead of failing the connection. A reconnecting client turns it on while
 * it proves the connection (agent-client's prime): a previous process's
 * connection may still have answers in flight on the same virtio-serial port,
 * with ids this process cannot know.
 */
export interface StrangerPolicy {
  dropStrangers: boolean;
}

export interface ClientStream extends AsyncIterable<Buffer> {
  readonly streamId: number;
  /** Send one data frame to the server (client-streaming calls only). */
  send(payload: Uint8Array): boolean;
  /** Tell the server no more data follows. */
  closeSend(): void;
  /** Resolves with the final response payload, rejects with the call's error. */
  readonly response: Promise<Buffer>;
  cancel(): void;
  /** Resolves when the transport can take more data. */
  drained(): Promise<void>;
}

interface Pending {
  method: string;
  resolve(b: Buffer): void;
  reject(err: Error): void;
  data?: BoundedQueue;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_STREAM_BUFFER = 16 << 20;
// Beyond this the id space is exhausted; the connection must be replaced.
const MAX_STREAM_ID = 0xffff_fffd;

export class TtrpcClient {
  private readonly channel: FrameChannel;
  private readonly pending = new Map<number, Pending>();
  private nextStreamId: number;
  private readonly firstStreamId: number;
  /** See StrangerPolicy: off unless a reconnecting caller turns it on. */
  readonly strangers: StrangerPolicy = { dropStrangers: false };
  private readonly defaultTimeoutMs: number;
  private readonly maxStreamBuffer: number;

  constructor(sock: Duplex, opts: ClientOptions = {}) {
    this.defaultTimeoutMs = opts.defaultTimeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.maxStreamBuffer = opts.maxStreamBufferBytes ?? DEFAULT_STREAM_BUFFER;
    const first = opts.firstStreamId ?? 1;
    this.firstStreamId = first % 2 === 1 && first > 0 && first <= MAX_STREAM_ID ? first : 1;
    this.nextStreamId = this.firstStreamId;
    this.channel = new FrameChannel(sock, (f) => this.onFrame(f), opts.maxFrameLength ?? MAX_FRAME_LENGTH);
    this.channel.onClose((err) => {
      for (const [id, p] of this.pending) {
        this.pending.delete(id);
        p.data?.fail(err);
        p.reject(err);
      }
    });
  }

  get closed(): Error | undefined {
    return this.channel.closed;
  }

  onClose(fn: (err: Error) => void): void {
    this.channel.onClose(fn);
  }

  /** The id the next call will use (a reconnecting caller passes it on as firstStreamId). */
  get nextId(): number {
    return this.nextStreamId;
  }

  get pendingCalls(): number {
    return this.pending.size;
  }

  /** High-water mark of bytes the frame parser held (for tests and the fuzzer). */
  get maxParserBuffered(): number {
    return this.channel.parser.maxBuffered;
  }

  close(): void {
    this.channel.fail(new ConnectionClosedError('ttrpc client closed'));
  }

  async call(service: string, method: string, payload: Uint8Array, opts: CallOptions = {}): Promise<Buffer> {
    const s = this.start(service, method, payload, opts, false, false);
    return s.response;
  }

  openStream(service: string, method: string, payload: Uint8Array, opts: StreamOptions = {}): ClientStream {
    return this.start(service, method, payload, opts, true, opts.clientStreaming ?? false);
  }

  private start(service: string, method: string, payload: Uint8Array, opts: CallOptions, streaming: boolean, clientStreaming: boolean): ClientStream {
    const name = `${service}/${method}`;
    const timeoutMs = opts.timeoutMs ?? this.defaultTimeoutMs;
    const data = streaming ? new BoundedQueue(this.maxStreamBuffer) : undefined;
    let streamId = 0;
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    let resolveP!: (b: Buffer) => void;
    let rejectP!: (e: Error) => void;
    const response = new Promise<Buffer>((res, rej) => {
      resolveP = res;
      rejectP = rej;
    });
    // Streams are often consumed through iteration only; never leave an unhandled rejection behind.
    if (streaming) response.catch(() => undefined);

    const finish = (err: Error | undefined, value?: Buffer): void => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      this.pending.delete(streamId);
      if (err) {
        data?.fail(err);
        rejectP(err);
      } else {
        data?.end();
        resolveP(value ?? Buffer.alloc(0));
      }
    };
    const onAbort = (): void => finish(new CallCancelledError(`${name}: call cancelled by caller`));

    const stream: ClientStream = {
      get streamId() {
        return streamId;
      },
      response,
      send: (p) => {
        if (settled || !clientStreaming) return false;
        return this.channel.send(streamId, MessageType.DATA, 0, p);
      },
      closeSend: () => {
        if (settled || !clientStreaming) return;
        this.channel.send(streamId, MessageType.DATA, Flag.REMOTE_CLOSED | Flag.NO_DATA, new Uint8Array(0));
      },
      cancel: () => onAbort(),
      drained: () => this.channel.drained(),
      [Symbol.asyncIterator]: () => {
        if (!data) throw new TypeError('not a streaming call');
        return data[Symbol.asyncIterator]();
      },
    };

    const closed = this.channel.closed;
    if (closed) {
      finish(closed);
      return stream;
    }
    if (opts.signal?.aborted) {
      onAbort();
      return stream;
    }
    if (this.nextStreamId > MAX_STREAM_ID) {
      finish(new ConnectionClosedError('ttrpc stream ids exhausted on this connection; reconnect'));
      return stream;
    }
    let req: Uint8Array;
    try {
      req = encodeRequest({
        service,
        method,
        payload,
        timeoutNano: timeoutMs > 0 ? Math.round(timeoutMs * 1e6) : 0,
        metadata: opts.metadata ?? [],
      });
      if (req.length > MAX_FRAME_LENGTH) throw new RangeError(`request of ${req.length} bytes exceeds the ${MAX_FRAME_LENGTH}-byte frame cap`);
    } catch (err) {
      finish(err as Error);
      return stream;
    }
    streamId = this.nextStreamId;
    this.nextStreamId += 2;
    this.pending.set(streamId, { method: name, resolve: (b) => finish(undefined, b), reject: (e) => finish(e), data });
    if (timeoutMs > 0) {
      timer = setTimeout(() => finish(new DeadlineExceededError(`${name}: no answer within the ${timeoutMs} ms deadline`)), timeoutMs);
    }
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    this.channel.send(streamId, MessageType.REQUEST, clientStreaming ? Flag.REMOTE_OPEN : Flag.REMOTE_CLOSED, req);
    return stream;
  }

  private onFrame(f: Frame): void {
    // A late answer to a call made on an earlier connection: drop it.
    if (f.streamId % 2 === 1 && f.streamId < this.firstStreamId) return;
    if (f.streamId % 2 === 1 && f.streamId >= this.nextStreamId && this.strangers.dropStrangers) return;
    if (f.streamId % 2 !== 1 || f.streamId >= this.nextStreamId) {
      return this.channel.fail(new ProtocolViolationError(`frame for stream ${f.streamId}, which this client never opened`));
    }
    const p = this.pending.get(f.streamId);
    // A call that timed out or was cancelled may still get its answer: drop it.
    if (!p) return;
    switch (f.type) {
      case MessageType.RESPONSE: {
        let r;
        try {
          r = decodeResponse(f.payload);
        } catch (err) {
          if (err instanceof EnvelopeError) return this.channel.fail(new ProtocolViolationError(`bad response on stream ${f.streamId}: ${err.message}`));
          throw err;
        }
        if (r.status && r.status.code !== 0) p.reject(new RemoteStatusError(r.status.code, r.status.message, p.method));
        else p.resolve(Buffer.from(r.payload));
        return;
      }
      case MessageType.DATA: {
        if (!p.data) return this.channel.fail(new ProtocolViolationError(`data frame on unary call stream ${f.streamId}`));
        if ((f.flags & Flag.NO_DATA) === 0) {
          if (!p.data.push(f.payload)) {
            p.reject(new StreamOverflowError(`${p.method}: more than ${this.maxStreamBuffer} bytes of unread stream data`));
            return;
          }
        }
        // REMOTE_CLOSED on data: the server sends no more data; the response still follows.
        return;
      }
      default:
        return this.channel.fail(new ProtocolViolationError(`unexpected message type ${f.type} sent to a client`));
    }
  }
}
