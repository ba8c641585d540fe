// Exec and attach over WebSocket, as kubelet's remotecommand websocket.go:
// channels 0 stdin, 1 stdout, 2 stderr, 3 error (status), 4 resize. An empty
// frame on the lowest channel the server writes tells the client the
// streams are ready; the status goes on channel 3 (JSON from v4 on, the
// failure text before), then the connection closes normally.

import type { WebSocket } from 'ws';
import type { Logger } from '../../log';
import type { StreamOptions } from '../../sandbox/controller';
import { RemoteCommandSession, type RemoteCommand } from '../remote-command';
import { encodeStatus } from '../status';
import { WsChannels, type ChannelType } from './channels';
import type { ChannelProtocol } from './frames';

const STDIN = 0;
const STDOUT = 1;
const STDERR = 2;
const ERROR = 3;
const RESIZE = 4;

export function wsRemoteCommand(ws: WebSocket, protocol: ChannelProtocol, opts: StreamOptions, command: RemoteCommand, log: Logger): RemoteCommandSession {
  // Channels the request did not ask for exist but carry nothing (wsstream's IgnoreChannel).
  const types: ChannelType[] = ['read', 'write', 'write', 'write', 'read'];
  const ch = new WsChannels(ws, protocol, types, log);
  const json = protocol.name.startsWith('v4.') || protocol.name.startsWith('v5.');
  const session = new RemoteCommandSession(
    command,
    {
      stdin: opts.stdin ? ch.readers[STDIN] : undefined,
      stdout: opts.stdout ? ch.writers[STDOUT] : undefined,
      stderr: opts.stderr && !opts.tty ? ch.writers[STDERR] : undefined,
      resize: opts.tty ? ch.readers[RESIZE] : undefined,
      writeStatus: async (s) => {
        const bytes = encodeStatus(s, json);
        const err = ch.writers[ERROR];
        if (bytes && err) await new Promise<void>((resolve) => err.write(bytes, () => resolve()));
        ws.close(1000);
      },
    },
    log,
  );
  ch.send(opts.stdout ? STDOUT : opts.stderr ? STDERR : ERROR, Buffer.alloc(0));
  return session;
}
