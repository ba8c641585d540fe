// A gRPC server that does nothing: Node's own HTTP/2 server on a unix socket
// (nghttp2 reading the socket's native handle, no grpc-js, no JavaScript
// stream in between) answering every unary call with an empty message and
// status OK. The floor under any CRI server written on Node's HTTP/2: what a
// call costs the client, the kernel and Node before a server does any work.
// bench/runc-pod's "calls" stage times it beside vmpod and containerd.
//
// It runs in a child process of its own (forked from this file), as a
// daemon would, so that it does not share the bench's event loop.

import { fork } from 'node:child_process';
import { createServer as createHttp2Server, type ServerHttp2Stream } from 'node:http2';
import { createServer as createNetServer } from 'node:net';

/** Set in the child: the socket path to serve on. */
const SERVE_ENV = 'VMPOD_BENCH_NULL_HTTP2_SOCKET';

/** An empty gRPC message: not compressed, length 0. */
const EMPTY_MESSAGE = Buffer.alloc(5);

function answer(stream: ServerHttp2Stream): void {
  stream.resume();
  stream.on('end', () => {
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    stream.end(EMPTY_MESSAGE);
  });
}

function serve(socket: string): void {
  const h2 = createHttp2Server();
  h2.on('stream', answer);
  // Handed over as the daemon hands its connections to grpc-js: accepted here, served by the HTTP/2 server.
  const listener = createNetServer((c) => h2.emit('connection', c));
  listener.listen(socket, () => process.send!('ready'));
  process.on('disconnect', () => process.exit(0));
}

export interface NullHttp2Server {
  socket: string;
  pid: number;
  stop(): void;
}

/** Start the server on `socket` in a child process; resolves once it listens. */
export function startNullHttp2Server(socket: string): Promise<NullHttp2Server> {
  const child = fork(__filename, [], { env: { ...process.env, [SERVE_ENV]: socket }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the null HTTP/2 server exited with ${code} before it listened on ${socket}`)));
    child.once('message', () => {
      child.removeAllListeners('exit');
      resolve({
        socket,
        pid: child.pid!,
        stop: () => {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        },
      });
    });
  });
}

if (require.main === module && process.env[SERVE_ENV]) serve(process.env[SERVE_ENV]);
