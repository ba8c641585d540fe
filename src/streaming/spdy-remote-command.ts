// Exec and attach over SPDY/3.1, as kubelet's remotecommand httpstream.go
// (what crictl and kubelet's proxy speak). The client opens one stream per
// channel, named by its `streamType` header; the server answers each, waits
// (bounded) for as many as the request implies, then runs the command. The
// error stream carries the status: JSON from v4 on; v2 and v3 send only a
// failure's text; v1 (channel.k8s.io) resets its error stream as soon as
// the streams are up and half-closes stdin, as 1.0 kubelets did (kubelet
// keeps that behaviour). Resize streams exist from v3 on.

import type { Logger } from '../log';
import type { StreamOptions } from '../sandbox/controller';
import { RemoteCommandSession, type ClientStreams, type RemoteCommand } from './remote-command';
import type { SpdySession, SpdyStream } from './spdy';
import { encodeStatus } from './status';

export const REMOTE_COMMAND_SPDY_PROTOCOLS = ['v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'] as const;

type StreamType = 'error' | 'stdin' | 'stdout' | 'stderr' | 'resize';
const STREAM_TYPES: readonly string[] = ['error', 'stdin', 'stdout', 'stderr', 'resize'];

/** How many streams a client of `protocol` opens for `opts` (kubelet's expectedStreams). */
export function expectedStreams(protocol: string, opts: StreamOptions): number {
  const resize = opts.tty && (protocol === 'v4.channel.k8s.io' || protocol === 'v3.channel.k8s.io');
  return 1 + Number(opts.stdin) + Number(opts.stdout) + Number(opts.stderr) + Number(resize);
}

/** Collects the client's streams; resolves when all expected have come, rejects on a bad one or the timeout. */
export function waitForStreams(session: SpdySession, protocol: string, opts: StreamOptions, timeoutMs: number): Promise<Map<StreamType, SpdyStream>> {
  const want = expectedStreams(protocol, opts);
  const got = new Map<StreamType, SpdyStream>();
  return new Promise((resolve, reject) => {
    const done = (err?: Error): void => {
      clearTimeout(timer);
      session.off('stream', onStream);
      session.off('close', onClose);
      if (err) reject(err);
      else resolve(got);
    };
    const timer = setTimeout(() => done(new Error(`timed out after ${timeoutMs / 1000}s waiting for ${want} streams (got ${got.size})`)), timeoutMs);
    const onClose = (): void => done(new Error('the client closed the connection before opening its streams'));
    const onStream = (s: SpdyStream): void => {
      // A stream errors when the connection goes; the session's end is handled where the connection's close is.
      s.on('error', () => undefined);
      const type = s.headers.streamtype ?? '';
      if (!STREAM_TYPES.includes(type)) {
        s.reset();
        done(new Error(`unexpected stream type ${JSON.stringify(type)}`));
        return;
      }
      s.reply();
      got.set(type as StreamType, s);
      if (got.size === want) done();
    };
    session.on('stream', onStream);
    session.on('close', onClose);
  });
}

export function spdyRemoteCommand(streams: Map<StreamType, SpdyStream>, protocol: string, opts: StreamOptions, command: RemoteCommand, log: Logger): RemoteCommandSession {
  const errorStream = streams.get('error');
  const v1 = protocol === 'channel.k8s.io' || protocol === '';
  if (v1) {
    errorStream?.reset();
    streams.get('stdin')?.end();
  }
  const json = protocol === 'v4.channel.k8s.io';
  const client: ClientStreams = {
    stdin: opts.stdin ? streams.get('stdin') : undefined,
    stdout: opts.stdout ? streams.get('stdout') : undefined,
    stderr: opts.stderr && !opts.tty ? streams.get('stderr') : undefined,
    resize: opts.tty ? streams.get('resize') : undefined,
    writeStatus: async (s) => {
      const bytes = encodeStatus(s, json);
      if (!errorStream || v1 || errorStream.destroyed) return;
      await new Promise<void>((resolve) => {
        errorStream.once('error', () => resolve());
        errorStream.end(bytes ?? undefined, () => resolve());
      });
    },
  };
  return new RemoteCommandSession(command, client, log);
}
