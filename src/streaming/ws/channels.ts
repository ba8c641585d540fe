// A WebSocket as numbered channels (wsstream.Conn): a Readable per channel
// the client writes to, a Writable per channel the server writes to. Flow
// control: a Writable's write completes when ws has handed the frame to the
// socket, so a slow client fills the Writable and stops its source; a
// Readable that is full pauses the socket until it is read again.

import { Readable, Writable } from 'node:stream';
import type { WebSocket } from 'ws';
import type { Logger } from '../../log';
import { decodeFrame, encodeFrame, type ChannelProtocol } from './frames';

export type ChannelType = 'read' | 'write' | 'readwrite';

export class WsChannels {
  readonly readers: (Readable | undefined)[];
  readonly writers: (Writable | undefined)[];
  /** Readers whose buffer is full; the socket is paused while any is. */
  private readonly full = new Set<number>();
  /** Readers the client closed (or the connection ended). */
  private readonly ended = new Set<number>();

  constructor(
    private readonly ws: WebSocket,
    readonly protocol: ChannelProtocol,
    types: readonly ChannelType[],
    private readonly log: Logger,
  ) {
    this.readers = types.map((t, i) => (t === 'write' ? undefined : this.reader(i)));
    this.writers = types.map((t, i) => (t === 'read' ? undefined : this.writer(i)));
    ws.on('message', (data: Buffer, isBinary: boolean) => this.onMessage(data, isBinary));
    ws.once('close', () => {
      this.readers.forEach((_, i) => this.endReader(i));
      for (const w of this.writers) w?.destroy();
    });
  }

  /** A frame sent now, outside the stream (kubelet's initial empty frame, the port prefix). */
  send(channel: number, data: Buffer): void {
    this.ws.send(encodeFrame(this.protocol, channel, data), { binary: !this.protocol.base64 });
  }

  private reader(i: number): Readable {
    return new Readable({
      read: () => {
        if (this.full.delete(i) && this.full.size === 0) this.ws.resume();
      },
    });
  }

  private endReader(i: number): void {
    if (this.ended.has(i)) return;
    this.ended.add(i);
    this.readers[i]?.push(null);
  }

  private writer(i: number): Writable {
    return new Writable({
      write: (chunk: Buffer, _enc, cb) => {
        this.ws.send(encodeFrame(this.protocol, i, chunk), { binary: !this.protocol.base64 }, (err) => cb(err ?? null));
      },
    });
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    let frame;
    try {
      frame = decodeFrame(this.protocol, isBinary ? data : Buffer.from(data));
    } catch (err) {
      this.log.warn({ err }, 'websocket protocol error; closing');
      this.ws.close(1002, 'protocol error');
      return;
    }
    if (frame.type === 'empty') return;
    const r = this.readers[frame.channel];
    if (!r || this.ended.has(frame.channel)) {
      // kubelet ignores frames to channels the client may not write (and to unknown ones).
      this.log.trace({ channel: frame.channel }, 'frame for a channel that takes no input, ignored');
      return;
    }
    if (frame.type === 'close') {
      this.endReader(frame.channel);
      return;
    }
    if (!r.push(frame.data)) {
      this.full.add(frame.channel);
      this.ws.pause();
    }
  }
}
