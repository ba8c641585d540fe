// The host's typed client for the guest agent (AgentService over ttRPC).
// * Every call has a deadline (ttRPC sends it and enforces it locally).
// * The transport is a connect function; after the guest (or the transport)
//   drops the connection, the next call connects again. Calls in flight when
//   it drops fail with AgentUnavailableError — they are not retried, because
//   most agent calls are not idempotent (a lost StartContainer answer may have
//   started the container).
// * Every answer is decoded and validated (validate.ts) before it is returned.

import { Duplex } from 'node:stream';
import { Logger, silentLogger } from '../log';
import { UnavailableError } from '../../common/errors';
import { ConnectionClosedError, TtrpcClient } from '../../common/ttrpc';
import type { ClientStream } from '../../common/ttrpc';
import { AGENT_METHOD_TYPES, AGENT_SERVICE, AgentMethodName } from '../../common/generated/agent/agent';
import { decodeMessage, DeepPartial, encodeMessage, encodeRequest, MessageDecodeError, RequestOf, ResponseOf } from '../../common/agent-protocol/codec';
import { AgentResponseError, validateAgentLog, validateResponse } from './validate';
import { agentLogReadBudget, MAX_STREAM_CHUNK } from '../../common/agent-protocol/limits';
import { sleep } from '../../common/time';

export type ConnectFn = () => Promise<Duplex>;

export interface AgentClientOptions {
  connect: ConnectFn;
  logger?: Logger;
  /** Deadline of ordinary calls. */
  callTimeoutMs?: number;
  /** How long one connect attempt may take. */
  connectTimeoutMs?: number;
  /** Added to wait_ms for long polls, so a long poll is not mistaken for a dead guest. */
  longPollMarginMs?: number;
  /**
   * The agent may still hold an earlier host connection (a restarted daemon
   * reattaching to a running VM): prime the first connection too, not only
   * reconnections (see prime()).
   */
  agentMayHoldOldConnection?: boolean;
  /** Time for priming's deadline and backoff (tests pass a fake clock). */
  clock?: AgentClientClock;
}

export interface AgentClientClock {
  now(): number;
  sleep(ms: number): Promise<unknown>;
}

const REAL_CLOCK: AgentClientClock = { now: () => Date.now(), sleep: (ms) => sleep(ms) };

export interface AgentCallOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

/**
 * How long the `attempt`th Health probe of a reconnection waits (1-based):
 * 150 ms, then twice as long each time up to 1 s. The first probe is often
 * lost (the agent reopens its serial port only once it has read the old
 * connection's EOF: a VM just handed out of a pool or restored from a
 * template), and the agent answers a probe on a live connection in tens of
 * ms even under TCG; a busy guest's late answer is dropped by stream id and
 * the next, longer probe waits for it. Pure.
 */
export function primeHealthTimeoutMs(attempt: number): number {
  return Math.min(1000, 150 * 2 ** Math.min(Math.max(attempt, 1) - 1, 30));
}
/** Pause after the first failed probe, doubled after each further one up to the cap. */
const PRIME_BACKOFF_FIRST_MS = 20;
const PRIME_BACKOFF_CAP_MS = 1000;

/** The pause after failed prime probe number `attempt` (1-based): exponential, capped. Pure. */
export function primeBackoffMs(attempt: number): number {
  return Math.min(PRIME_BACKOFF_CAP_MS, PRIME_BACKOFF_FIRST_MS * 2 ** Math.min(attempt - 1, 30));
}

/** The guest agent cannot be reached (VM gone, agent dead, transport closed). */
export class AgentUnavailableError extends UnavailableError {}

type LongPollMethod = 'WaitProcess' | 'ReadStdout' | 'ReadStderr' | 'GetOOMEvent';

/** Whether a long poll's answer carries nothing new. */
const LONG_POLL_EMPTY: { [M in LongPollMethod]: (r: ResponseOf<M>) => boolean } = {
  WaitProcess: (r) => !r.exited,
  ReadStdout: (r) => r.data.length === 0 && !r.eof,
  ReadStderr: (r) => r.data.length === 0 && !r.eof,
  GetOOMEvent: (r) => !r.container_id,
};
/** An empty answer sooner than this did not wait as asked... */
const EARLY_ANSWER_MS = 50;
/** ...and is returned this much later. */
const PACING_MS = 100;

export class AgentClient {
  private ttrpc: TtrpcClient | undefined;
  private connecting: Promise<TtrpcClient> | undefined;
  private closed = false;
  /** Stream ids continue across reconnects (see TtrpcClient firstStreamId). */
  private nextStreamId = 1;
  private readonly log: Logger;
  private readonly callTimeoutMs: number;
  private readonly connectTimeoutMs: number;
  private readonly longPollMarginMs: number;

  constructor(private readonly opts: AgentClientOptions) {
    this.log = (opts.logger ?? silentLogger).child({ subsystem: 'agent' });
    this.callTimeoutMs = opts.callTimeoutMs ?? 30_000;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 10_000;
    this.longPollMarginMs = opts.longPollMarginMs ?? 5_000;
  }

  /** Call one AgentService method with a typed request; returns the validated response. */
  async call<M extends AgentMethodName>(method: M, req: DeepPartial<RequestOf<M>>, opts: AgentCallOptions = {}): Promise<ResponseOf<M>> {
    const types = AGENT_METHOD_TYPES[method];
    const payload = encodeRequest(method, req);
    const client = await this.connection();
    let out: Buffer;
    try {
      out = await client.call(AGENT_SERVICE, method, payload, { timeoutMs: opts.timeoutMs ?? this.callTimeoutMs, signal: opts.signal });
    } catch (err) {
      throw this.translate(method, err);
    }
    let value: ResponseOf<M>;
    try {
      value = decodeMessage<ResponseOf<M>>(types.response, out);
    } catch (err) {
      if (err instanceof MessageDecodeError) throw new AgentResponseError(method, 'message', err.message);
      throw err;
    }
    validateResponse(method, types.response, value);
    return value;
  }

  /**
   * Long polls: the agent waits up to wait_ms for news. The deadline is
   * wait_ms plus a margin. An empty answer that came back at once although
   * the call asked to wait is paced (returned after a short delay): a hostile
   * or broken guest answering "nothing" at once would otherwise make every
   * polling loop spin on the daemon's only thread.
   */
  private async longPoll<M extends LongPollMethod>(method: M, req: DeepPartial<RequestOf<M>>, opts: AgentCallOptions): Promise<ResponseOf<M>> {
    const waitMs = (req as { wait_ms?: number }).wait_ms ?? 0;
    const asked = Date.now();
    const res = await this.call(method, req, { ...opts, timeoutMs: opts.timeoutMs ?? waitMs + this.longPollMarginMs });
    if (waitMs >= EARLY_ANSWER_MS && Date.now() - asked < EARLY_ANSWER_MS && LONG_POLL_EMPTY[method](res)) await sleep(PACING_MS);
    return res;
  }

  health(opts?: AgentCallOptions): Promise<ResponseOf<'Health'>> {
    return this.call('Health', {}, opts);
  }

  waitProcess(req: DeepPartial<RequestOf<'WaitProcess'>>, opts: AgentCallOptions = {}): Promise<ResponseOf<'WaitProcess'>> {
    return this.longPoll('WaitProcess', req, opts);
  }

  readStdout(req: DeepPartial<RequestOf<'ReadStdout'>>, opts: AgentCallOptions = {}): Promise<ResponseOf<'ReadStdout'>> {
    return this.longPoll('ReadStdout', req, opts);
  }

  readStderr(req: DeepPartial<RequestOf<'ReadStderr'>>, opts: AgentCallOptions = {}): Promise<ResponseOf<'ReadStderr'>> {
    return this.longPoll('ReadStderr', req, opts);
  }

  getOOMEvent(req: DeepPartial<RequestOf<'GetOOMEvent'>>, opts: AgentCallOptions = {}): Promise<ResponseOf<'GetOOMEvent'>> {
    return this.longPoll('GetOOMEvent', req, opts);
  }

  /**
   * The agent's recent log lines from seq since_seq on (pass the answer's
   * next_seq to continue; since_seq < dropped means lines were missed). Checked
   * against the request too: no line before since_seq, no more text than the
   * max_bytes budget.
   */
  async readAgentLog(req: DeepPartial<RequestOf<'ReadAgentLog'>> = {}, opts: AgentCallOptions = {}): Promise<ResponseOf<'ReadAgentLog'>> {
    const res = await this.call('ReadAgentLog', req, opts);
    validateAgentLog('ReadAgentLog', res, req.since_seq ?? 0, agentLogReadBudget(req.max_bytes ?? 0));
    return res;
  }

  /**
   * A byte stream to a TCP port in the guest. Data arrives as validated chunks;
   * send() takes at most MAX_STREAM_CHUNK bytes per call.
   */
  async portForward(port: number, opts: AgentCallOptions = {}): Promise<PortForwardStream> {
    const client = await this.connection();
    const s = client.openStream(AGENT_SERVICE, 'PortForward', encodeMessage('vmpod.agent.v1.PortForwardOpen', { port }), {
      clientStreaming: true,
      timeoutMs: opts.timeoutMs ?? 0,
      signal: opts.signal,
    });
    return new PortForwardStream(s, (err) => this.translate('PortForward', err));
  }

  /** close() was called: no call will succeed again, so retrying is pointless. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Close the connection; later calls fail with AgentUnavailableError. */
  close(): void {
    this.closed = true;
    this.ttrpc?.close();
    this.ttrpc = undefined;
  }

  private translate(method: string, err: unknown): unknown {
    if (err instanceof ConnectionClosedError) {
      return new AgentUnavailableError(`guest agent connection lost during ${method}: ${err.message}`, { cause: err });
    }
    return err;
  }

  private async connection(): Promise<TtrpcClient> {
    if (this.closed) throw new AgentUnavailableError('agent client is closed');
    if (this.ttrpc && !this.ttrpc.closed) return this.ttrpc;
    this.connecting ??= this.dial().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async dial(): Promise<TtrpcClient> {
    let timer: NodeJS.Timeout | undefined;
    let sock: Duplex;
    const connecting = this.opts.connect();
    try {
      sock = await Promise.race([
        connecting,
        new Promise<never>((_, rej) => {
          timer = setTimeout(() => {
            // A connection that completes after we gave up belongs to nobody: close it
            // (an error on it would otherwise have no listener and take the daemon down).
            connecting.then(
              (late) => late.destroy(),
              () => undefined,
            );
            rej(new Error(`no connection within ${this.connectTimeoutMs} ms`));
          }, this.connectTimeoutMs);
        }),
      ]);
    } catch (err) {
      throw new AgentUnavailableError(`cannot reach the guest agent: ${(err as Error).message}`, { cause: err });
    } finally {
      if (timer) clearTimeout(timer);
    }
    const reconnect = this.nextStreamId > 1 || this.opts.agentMayHoldOldConnection === true;
    const client = new TtrpcClient(sock, { defaultTimeoutMs: this.callTimeoutMs, firstStreamId: this.nextStreamId });
    client.onClose((err) => {
      this.nextStreamId = client.nextId;
      this.log.info({ err: err.message }, 'agent connection closed');
    });
    if (this.closed) {
      client.close();
      throw new AgentUnavailableError('agent client is closed');
    }
    if (reconnect) await this.prime(client);
    this.ttrpc = client;
    this.log.debug({ reconnect }, 'agent connection established');
    return client;
  }

  /**
   * Over virtio-serial the agent notices that the previous host connection
   * ended only when it reads EOF, and then reopens its port, dropping what
   * arrived meanwhile: the first requests on a new connection can be lost.
   * So a reconnection is used only once a Health call on it was answered
   * (late answers to the lost ones are dropped by stream id), bounded by the
   * connect timeout.
   */
  private async prime(client: TtrpcClient): Promise<void> {
    const clock = this.opts.clock ?? REAL_CLOCK;
    const until = clock.now() + this.connectTimeoutMs;
    const health = encodeRequest('Health', {});
    // Until Health is answered, the port may still carry answers to a previous daemon's calls, whose ids
    // this process never had (a restart): dropped, not taken for a protocol violation.
    client.strangers.dropStrangers = true;
    for (let attempt = 1; ; attempt++) {
      try {
        await client.call(AGENT_SERVICE, 'Health', health, { timeoutMs: primeHealthTimeoutMs(attempt) });
        client.strangers.dropStrangers = false;
        return;
      } catch (err) {
        const left = until - clock.now();
        if (client.closed || left <= 0) {
          client.close();
          throw new AgentUnavailableError(`the guest agent did not answer Health on a new connection within ${this.connectTimeoutMs} ms (${attempt} attempts): ${(err as Error).message}`, {
            cause: err,
          });
        }
        // A lost request times out after primeHealthTimeoutMs, but a guest
        // that answers every probe with an error at once would otherwise have
        // the daemon's only thread spin on it until the deadline.
        await clock.sleep(Math.min(primeBackoffMs(attempt), left));
      }
    }
  }
}

export class PortForwardStream implements AsyncIterable<Buffer> {
  constructor(
    private readonly s: ClientStream,
    private readonly translate: (err: unknown) => unknown,
  ) {}

  send(data: Uint8Array): boolean {
    if (data.length > MAX_STREAM_CHUNK) throw new RangeError(`port-forward chunk of ${data.length} bytes exceeds ${MAX_STREAM_CHUNK}`);
    return this.s.send(encodeMessage('vmpod.agent.v1.PortForwardChunk', { data }));
  }

  drained(): Promise<void> {
    return this.s.drained();
  }

  closeSend(): void {
    this.s.closeSend();
  }

  cancel(): void {
    this.s.cancel();
  }

  /** Resolves when the guest ends the stream. */
  async done(): Promise<void> {
    try {
      await this.s.response;
    } catch (err) {
      throw this.translate(err);
    }
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Buffer> {
    try {
      for await (const frame of this.s) {
        let chunk: { data: Uint8Array };
        try {
          chunk = decodeMessage('vmpod.agent.v1.PortForwardChunk', frame);
        } catch (err) {
          throw new AgentResponseError('PortForward', 'chunk', (err as Error).message);
        }
        validateResponse('PortForward', 'vmpod.agent.v1.PortForwardChunk', chunk);
        yield Buffer.from(chunk.data);
      }
    } catch (err) {
      throw this.translate(err);
    }
  }
}
