// The streaming server, as containerd and CRI-O run one (kubelet's
// pkg/cri/streaming): the CRI Exec, Attach and PortForward calls get a URL
// with a single-use token on it, and the client (kubelet, crictl) then
// upgrades an HTTP request on that URL to WebSocket or SPDY/3.1 and speaks
// the remote-command or port-forward protocol. It listens on 127.0.0.1 by
// default: kubelet proxies to it from the same node. One object, built by
// the composition root, started and closed with the daemon; close() ends
// every session, and with it every process, connection and timer.

import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { StreamingConfig } from '../config/types';
import type { Logger } from '../log';
import type { ProcessIO, StreamOptions } from '../sandbox/controller';
import type { RemoteCommand } from './remote-command';
import type { StreamRequest, StreamUrls } from './requests';
import { TokenCache } from './tokens';
import { offeredProtocols, PORT_FORWARD_WS_PROTOCOLS, REMOTE_COMMAND_WS_PROTOCOLS, selectProtocol, type ChannelProtocol } from './ws/frames';
import type { PortForwardTarget } from './port-forward';
import { queryPorts, wsPortForward } from './ws/port-forward';
import { acceptSpdyUpgrade } from './spdy';
import { PORT_FORWARD_SPDY_PROTOCOLS, spdyPortForward } from './spdy-port-forward';
import { REMOTE_COMMAND_SPDY_PROTOCOLS, spdyRemoteCommand, waitForStreams } from './spdy-remote-command';
import { wsRemoteCommand } from './ws/remote-command';

/** What the server needs of the pod domain (PodService has these). */
export interface StreamingPods {
  exec(containerId: string, cmd: string[], opts: StreamOptions): Promise<ProcessIO>;
  attach(containerId: string, opts: StreamOptions): Promise<ProcessIO>;
  portForward(podId: string, port: number): Promise<Duplex>;
}

/** A session as the server holds it: something to end. */
interface Session {
  abort(reason: string): void;
}

/** How long a SPDY client may take to open a session's streams, or the second stream of a port-forward pair (kubelet: 30s). */
const STREAM_CREATION_TIMEOUT_MS = 30_000;

/** One client message may be at most this big (client-go sends stdin in 32 KiB pieces). */
const MAX_WS_MESSAGE = 1 << 20;

export class StreamingServer implements StreamUrls {
  private readonly tokens: TokenCache<StreamRequest>;
  private readonly sessions = new Set<Session>();
  private readonly server: Server;
  private readonly wss: WebSocketServer;
  private baseUrl = '';
  private closing = false;

  constructor(
    private readonly cfg: StreamingConfig,
    private readonly pods: StreamingPods,
    private readonly log: Logger,
    now?: () => number,
  ) {
    this.tokens = new TokenCache({ ttlMs: cfg.token_ttl_s * 1000, max: cfg.max_outstanding_urls, now });
    const tls = cfg.tls_cert_file && cfg.tls_key_file ? { cert: readFileSync(cfg.tls_cert_file), key: readFileSync(cfg.tls_key_file) } : undefined;
    this.server = tls ? createHttpsServer(tls) : createHttpServer();
    this.server.on('request', (req: IncomingMessage, res: ServerResponse) => this.onPlainRequest(req, res));
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.onUpgrade(req, socket, head));
    this.server.on('clientError', (_err, socket: Duplex) => socket.destroy());
    // The protocol was chosen (and an unsupported offer refused) before the upgrade; ws echoes it.
    this.wss = new WebSocketServer({
      noServer: true,
      perMessageDeflate: false,
      maxPayload: MAX_WS_MESSAGE,
      handleProtocols: (_offered, req) => (req as UpgradeRequest).vmpodProtocol || false,
    });
  }

  /** Listening: every URL issued from now on names the bound address and port. */
  async start(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.cfg.port, this.cfg.address, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const a = this.server.address() as AddressInfo;
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    this.baseUrl = `${this.cfg.tls_cert_file ? 'https' : 'http'}://${host}:${a.port}`;
    this.log.info({ url: this.baseUrl }, 'streaming server listening');
  }

  get url(): string {
    return this.baseUrl;
  }

  get activeSessions(): number {
    return this.sessions.size;
  }

  get outstandingUrls(): number {
    return this.tokens.size;
  }

  issue(req: StreamRequest): string {
    const token = this.tokens.insert(req);
    return `${this.baseUrl}/${req.kind}/${token}`;
  }

  /** Stops listening, ends every session (their processes are killed, attachments dropped) and forgets every token. */
  async close(): Promise<void> {
    this.closing = true;
    this.tokens.clear();
    for (const s of [...this.sessions]) s.abort('streaming server closing');
    this.sessions.clear();
    this.wss.close();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  private onPlainRequest(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(400, { 'content-type': 'text/plain' });
    res.end('streaming requests upgrade to SPDY/3.1 or WebSocket; this was a plain HTTP request\n');
  }

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', (err) => this.log.debug({ err }, 'streaming connection error'));
    const url = new URL(req.url ?? '/', 'http://streaming');
    const m = /^\/(exec|attach|portforward)\/([A-Za-z0-9_-]+)$/.exec(url.pathname);
    if (!m) return refuse(socket, 404, `no streaming endpoint at ${url.pathname}`);
    if (this.closing) return refuse(socket, 503, 'the streaming server is shutting down');
    if (this.sessions.size >= this.cfg.max_sessions) return refuse(socket, 503, `${this.cfg.max_sessions} streaming sessions are open already (streaming.max_sessions); retry later`);
    const request = this.tokens.take(m[2]);
    if (!request) return refuse(socket, 404, 'unknown or expired streaming token: ask the runtime for a new URL (tokens are single use)');
    if (request.kind !== m[1]) return refuse(socket, 400, `this token is for ${request.kind}, not ${m[1]}`);
    const upgrade = (req.headers.upgrade ?? '').toLowerCase();
    if (upgrade === 'websocket') return this.acceptWebSocket(req, socket, head, request, url);
    if (upgrade === 'spdy/3.1') return this.acceptSpdy(req, socket, head, request);
    return refuse(socket, 400, `unsupported upgrade ${JSON.stringify(req.headers.upgrade ?? '')}: use WebSocket or SPDY/3.1`);
  }

  private acceptWebSocket(req: UpgradeRequest, socket: Duplex, head: Buffer, request: StreamRequest, url: URL): void {
    const supported = request.kind === 'portforward' ? PORT_FORWARD_WS_PROTOCOLS : REMOTE_COMMAND_WS_PROTOCOLS;
    const offered = offeredProtocols(req.headers['sec-websocket-protocol']);
    const protocol = selectProtocol(offered, supported);
    if (!protocol) return refuse(socket, 400, `requested protocol(s) are not supported: ${offered.join(', ')}; supports ${supported.join(', ')}`);
    let ports: number[] = [];
    if (request.kind === 'portforward') {
      try {
        ports = queryPorts(url.searchParams);
      } catch (err) {
        return refuse(socket, 400, (err as Error).message);
      }
    }
    req.vmpodProtocol = protocol.name;
    this.wss.handleUpgrade(req, socket, head, (ws) => this.serveWebSocket(ws, socket, protocol, request, ports));
  }

  private serveWebSocket(ws: WebSocket, socket: Duplex, protocol: ChannelProtocol, request: StreamRequest, ports: number[]): void {
    const log = this.sessionLog(request, `websocket ${protocol.name || '(none)'}`);
    const inner =
      request.kind === 'portforward' ? wsPortForward(ws, protocol, ports, this.portForwardTarget(request), log) : wsRemoteCommand(ws, protocol, request.opts, this.remoteCommand(request), log);
    ws.on('error', (err) => log.debug({ err }, 'websocket error'));
    this.track(
      log,
      socket,
      inner,
      () => ws.terminate(),
      (end) => ws.once('close', () => end('the client closed the connection')),
    );
  }

  private acceptSpdy(req: IncomingMessage, socket: Duplex, head: Buffer, request: StreamRequest): void {
    const protocols = request.kind === 'portforward' ? PORT_FORWARD_SPDY_PROTOCOLS : REMOTE_COMMAND_SPDY_PROTOCOLS;
    // acceptSpdyUpgrade answers a failed negotiation itself (kubelet's httpstream.Handshake).
    const accepted = acceptSpdyUpgrade(req, socket, head, protocols, this.log);
    if (!accepted) return;
    const { session, protocol } = accepted;
    const log = this.sessionLog(request, `spdy ${protocol}`);
    const closeWatch = (end: (reason: string) => void): void => void session.once('close', () => end('the client closed the connection'));
    if (request.kind === 'portforward') {
      const inner = spdyPortForward(session, this.portForwardTarget(request), log, STREAM_CREATION_TIMEOUT_MS);
      this.track(log, socket, inner, () => session.destroy(), closeWatch);
      return;
    }
    // The session is tracked from the start, so that closing the server ends one still waiting for its streams.
    let inner: { abort(): void } | undefined;
    const run = async (): Promise<void> => {
      const streams = await waitForStreams(session, protocol, request.opts, STREAM_CREATION_TIMEOUT_MS);
      const rc = spdyRemoteCommand(streams, protocol, request.opts, this.remoteCommand(request), log);
      inner = rc;
      await rc.run();
      // The outputs and the status are sent and ended: no new streams, and the connection closes once the client lets go.
      session.goAway();
    };
    this.track(log, socket, { run, abort: () => inner?.abort() }, () => session.destroy(), closeWatch);
  }

  /**
   * Holds a session until its connection is gone: after a normal end (run
   * settles, the close is begun) once the client lets go (`watchClose`), or
   * earlier when the client goes, at the idle timeout, or when the server
   * closes.
   * Idle means no byte either way on the connection for
   * stream_idle_timeout_s (kubelet's stream idle timeout).
   */
  private track(log: Logger, socket: Duplex, inner: { run(): Promise<void>; abort(): void }, destroy: () => void, watchClose: (end: (reason: string) => void) => void): void {
    log.info('streaming session opened');
    const net = socket as Partial<Socket>;
    const traffic = (): number => (net.bytesRead ?? 0) + (net.bytesWritten ?? 0);
    let seen = traffic();
    const idle = setInterval(() => {
      const now = traffic();
      if (now === seen) end(`idle for ${this.cfg.stream_idle_timeout_s}s (streaming.stream_idle_timeout_s)`);
      seen = now;
    }, this.cfg.stream_idle_timeout_s * 1000);
    idle.unref();
    let ran = false;
    let gone = false;
    const end = (reason: string): void => {
      if (gone) return;
      gone = true;
      clearInterval(idle);
      this.sessions.delete(session);
      if (!ran) log.info({ reason }, 'streaming session ended early');
      inner.abort();
      destroy();
    };
    const session: Session = { abort: end };
    this.sessions.add(session);
    watchClose(end);
    inner.run().then(
      () => {
        ran = true;
        // The status is sent and the close begun (WebSocket close, SPDY GOAWAY); the session is held
        // until the connection is gone, so that closing the server still ends a client that lingers.
        if (!gone) log.info('streaming session finished');
      },
      (err: unknown) => {
        log.info({ err }, 'streaming session failed');
        end('session failed');
      },
    );
  }

  private sessionLog(request: StreamRequest, protocol: string): Logger {
    return this.log.child(request.kind === 'portforward' ? { podSandboxId: request.podId, protocol } : { containerId: request.containerId, protocol, kind: request.kind });
  }

  private portForwardTarget(request: Extract<StreamRequest, { kind: 'portforward' }>): PortForwardTarget {
    return { podId: request.podId, allowed: request.ports, dial: (port) => this.pods.portForward(request.podId, port) };
  }

  private remoteCommand(request: Extract<StreamRequest, { kind: 'exec' | 'attach' }>): RemoteCommand {
    if (request.kind === 'exec') return { kind: 'exec', cmd: request.cmd, start: () => this.pods.exec(request.containerId, request.cmd, request.opts) };
    return { kind: 'attach', cmd: [], start: () => this.pods.attach(request.containerId, request.opts) };
  }
}

interface UpgradeRequest extends IncomingMessage {
  /** The WebSocket subprotocol chosen before the upgrade. */
  vmpodProtocol?: string;
}

/** Answers an upgrade request with an HTTP error and closes the connection. */
function refuse(socket: Duplex, status: number, message: string): void {
  const reason = { 400: 'Bad Request', 403: 'Forbidden', 404: 'Not Found', 503: 'Service Unavailable' }[status] ?? 'Error';
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(message) + 1}\r\nConnection: close\r\n\r\n${message}\n`);
}
