// A WebSocket client of the channel protocols, written from the protocol
// (not from the server's code): it collects each channel's bytes, sends
// framed input, and resolves when the server closes.

import WebSocket from 'ws';

export class ChannelClient {
  readonly ws: WebSocket;
  readonly received = new Map<number, Buffer[]>();
  readonly opened: Promise<void>;
  readonly closed: Promise<{ code: number }>;
  protocol = '';
  private readonly base64: boolean;
  private listeners: (() => void)[] = [];

  constructor(url: string, protocols: string[]) {
    this.ws = new WebSocket(url.replace(/^http/, 'ws'), protocols);
    this.base64 = protocols[0]?.includes('base64') ?? false;
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => {
        this.protocol = this.ws.protocol;
        resolve();
      });
      this.ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
      this.ws.once('error', reject);
    });
    this.opened.catch(() => undefined);
    this.closed = new Promise((resolve) => this.ws.once('close', (code) => resolve({ code })));
    this.ws.on('message', (data: Buffer, isBinary: boolean) => {
      let ch: number;
      let payload: Buffer;
      if (!isBinary) {
        const s = data.toString();
        ch = s.charCodeAt(0) - 48;
        payload = Buffer.from(s.slice(1), 'base64');
      } else {
        ch = data[0];
        payload = data.subarray(1);
      }
      const list = this.received.get(ch) ?? [];
      list.push(Buffer.from(payload));
      this.received.set(ch, list);
      for (const l of this.listeners) l();
    });
  }

  text(channel: number): string {
    return Buffer.concat(this.received.get(channel) ?? []).toString();
  }

  frames(channel: number): Buffer[] {
    return this.received.get(channel) ?? [];
  }

  send(channel: number, data: string | Buffer): void {
    const b = Buffer.from(data);
    if (this.base64) this.ws.send(String.fromCharCode(48 + channel) + b.toString('base64'));
    else this.ws.send(Buffer.concat([Buffer.from([channel]), b]));
  }

  /** v5: half-close one of our streams. */
  closeChannel(channel: number): void {
    this.ws.send(Buffer.from([255, channel]));
  }

  /** Resolves once `channel` has received text matching `re`. */
  async waitFor(channel: number, re: RegExp): Promise<void> {
    while (!re.test(this.text(channel))) {
      await new Promise<void>((resolve) => this.listeners.push(resolve));
      this.listeners = [];
    }
  }
}
