// The channel framing of Kubernetes' WebSocket streaming protocols
// (k8s.io/apimachinery wsstream): each message is one channel's data, led by
// the channel number; the base64 protocols send text messages with the
// channel as an ASCII digit and the data base64-encoded. v5.channel.k8s.io
// adds the close signal: [255, channel] half-closes a client stream.

/** One WebSocket subprotocol of the channel family. */
export interface ChannelProtocol {
  /** As negotiated; '' when the client offered none (then binary, as kubelet). */
  name: string;
  base64: boolean;
  /** v5: the client may half-close a stream with [255, channel]. */
  streamClose: boolean;
}

export const STREAM_CLOSE = 255;

const PROTOCOLS: Record<string, ChannelProtocol> = {
  '': { name: '', base64: false, streamClose: false },
  'channel.k8s.io': { name: 'channel.k8s.io', base64: false, streamClose: false },
  'base64.channel.k8s.io': { name: 'base64.channel.k8s.io', base64: true, streamClose: false },
  'v4.channel.k8s.io': { name: 'v4.channel.k8s.io', base64: false, streamClose: false },
  'v4.base64.channel.k8s.io': { name: 'v4.base64.channel.k8s.io', base64: true, streamClose: false },
  'v5.channel.k8s.io': { name: 'v5.channel.k8s.io', base64: false, streamClose: true },
};

/** kubelet's remotecommand websocket.go offers these (with '' for no header). */
export const REMOTE_COMMAND_WS_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io', 'v4.base64.channel.k8s.io', 'channel.k8s.io', 'base64.channel.k8s.io'] as const;
/** kubelet's portforward websocket.go offers these. */
export const PORT_FORWARD_WS_PROTOCOLS = ['v4.channel.k8s.io', 'v4.base64.channel.k8s.io'] as const;

/**
 * The protocol wsstream's handshake picks: the first the client offered
 * that the server supports (the client's order decides); no offer means ''.
 * null: none of the offered ones is supported (the upgrade is refused).
 */
export function selectProtocol(offered: readonly string[], supported: readonly string[]): ChannelProtocol | null {
  if (offered.length === 0) return PROTOCOLS[''];
  for (const p of offered) if (supported.includes(p) && PROTOCOLS[p]) return PROTOCOLS[p];
  return null;
}

/** The Sec-WebSocket-Protocol header's list, in order. */
export function offeredProtocols(header: string | undefined): string[] {
  return (header ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
}

export function encodeFrame(p: ChannelProtocol, channel: number, data: Buffer): Buffer | string {
  if (p.base64) return String.fromCharCode(48 + channel) + data.toString('base64');
  const frame = Buffer.allocUnsafe(data.length + 1);
  frame[0] = channel;
  data.copy(frame, 1);
  return frame;
}

export type Frame = { type: 'data'; channel: number; data: Buffer } | { type: 'close'; channel: number } | { type: 'empty' };

/** Decodes one client message; throws on a malformed close signal (kubelet drops the connection). */
export function decodeFrame(p: ChannelProtocol, msg: Buffer): Frame {
  if (msg.length === 0) return { type: 'empty' };
  if (p.streamClose && msg[0] === STREAM_CLOSE) {
    if (msg.length !== 2) throw new Error(`close signal must carry exactly one channel byte, got ${msg.length - 1}`);
    return { type: 'close', channel: msg[1] };
  }
  if (p.base64) return { type: 'data', channel: msg[0] - 48, data: Buffer.from(msg.subarray(1).toString('latin1'), 'base64') };
  return { type: 'data', channel: msg[0], data: msg.subarray(1) };
}
