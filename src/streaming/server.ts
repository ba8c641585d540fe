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
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { StreamingConfig } from '../config/types';
import type { Logger } from '../log';
import type { ProcessIO, StreamOptions } from '../sandbox/controller';
import type { RemoteCommand } from './remote-command';
import type { StreamRequest, StreamUrls } from './requests';
import { TokenCache } from './tokens';
import { offeredProtocols, PORT_FORWARD_WS_PROTOCOLS, REMOTE_COMMAND_WS_PROTOCOLS, selectProtocol, type ChannelProtocol } from './ws/frames';
import { queryPorts, wsPortForward } from './ws/port-forward';
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
    this.wss.handleUpgrade(req, socket, head, (ws) => this.serveWebSocket(ws, protocol, request, ports));
  }

  private serveWebSocket(ws: WebSocket, protocol: ChannelProtocol, request: StreamRequest, ports: number[]): void {
    const log = this.log.child(
      request.kind === 'portforward'
        ? { podSandboxId: request.podId, protocol: `websocket ${protocol.name}`, ports }
        : { containerId: request.containerId, protocol: `websocket ${protocol.name}`, kind: request.kind },
    );
    log.info('streaming session opened');
    const idle = setTimeout(() => session.abort(`idle for ${this.cfg.stream_idle_timeout_s}s (streaming.stream_idle_timeout_s)`), this.cfg.stream_idle_timeout_s * 1000);
    idle.unref();
    const touch = (): void => void idle.refresh();
    const inner =
      request.kind === 'portforward'
        ? wsPortForward(ws, protocol, ports, { podId: request.podId, allowed: request.ports, dial: (port) => this.pods.portForward(request.podId, port) }, log, touch)
        : wsRemoteCommand(ws, protocol, request.opts, this.remoteCommand(request), log, touch);
    let ended = false;
    const session: Session = {
      abort: (reason) => {
        if (ended) return;
        ended = true;
        log.info({ reason }, 'streaming session ended early');
        clearTimeout(idle);
        this.sessions.delete(session);
        inner.abort();
        ws.terminate();
      },
    };
    this.sessions.add(session);
    ws.on('error', (err) => log.debug({ err }, 'websocket error'));
    ws.once('close', () => session.abort('the client closed the connection'));
    inner.run().then(
      () => {
        if (ended) return;
        ended = true;
        clearTimeout(idle);
        this.sessions.delete(session);
        log.info('streaming session finished');
      },
      (err: unknown) => {
        log.warn({ err }, 'streaming session failed');
        session.abort('session failed');
      },
    );
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
