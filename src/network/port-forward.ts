// Opening a TCP connection to a port in a network namespace, for
// PortForward into pods whose processes run on the host (the runc
// controller): the port listens inside the pod netns, which Node cannot
// enter (no setns), so a relay runs there: busybox `nc` connects to
// 127.0.0.1:<port> inside the netns and its stdio is the stream. (A VM pod's
// port lives in the guest; its controller goes through the agent.)

import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { connect } from 'node:net';
import { Duplex } from 'node:stream';
import { InternalError, InvalidArgumentError } from '../../common/errors';
import { inNetns } from './run';

export const BUSYBOX = '/bin/busybox';

/** Relay through `nsenter --net=<netns> busybox nc 127.0.0.1 <port>`. */
export function openNetnsPort(netns: string, port: number, busybox = BUSYBOX): Promise<Duplex> {
  if (!Number.isInteger(port) || port < 1 || port > 65535) return Promise.reject(new InvalidArgumentError('port', `${port} is not a TCP port`));
  const argv = inNetns(netns, [busybox, 'nc', '127.0.0.1', String(port)]);
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    const errText: Buffer[] = [];
    child.stderr.on('data', (b: Buffer) => errText.push(b));
    child.once('error', (e) => reject(new InternalError(`port-forward relay for port ${port} in ${netns}: ${e.message}`)));
    const failure = (code: number) => `port-forward to port ${port} in ${netns} failed: ${Buffer.concat(errText).toString().trim() || `relay exited with ${code}`}`;
    child.once('spawn', () => resolve(relayStream(child, failure)));
  });
}

/**
 * The relay's stdio as one Duplex: writes go to its stdin (end = half-close),
 * reads come from its stdout; destroying the stream kills the relay; a
 * non-zero exit (connection refused) is an error on the stream.
 */
function relayStream(child: ChildProcessWithoutNullStreams, failure: (code: number) => string): Duplex {
  const stream = new Duplex({
    read() {
      child.stdout.resume();
    },
    write(chunk: Buffer, _enc, cb) {
      child.stdin.write(chunk, cb);
    },
    final(cb) {
      child.stdin.end(cb);
    },
    destroy(err, cb) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      cb(err);
    },
  });
  child.stdin.on('error', () => undefined); // EPIPE once the relay exited; its exit code tells why
  child.stdout.on('data', (b: Buffer) => {
    if (!stream.push(b)) child.stdout.pause();
  });
  child.stdout.once('end', () => stream.push(null));
  child.once('close', (code) => {
    if (code !== 0 && code !== null && !stream.destroyed) stream.destroy(new InternalError(failure(code)));
  });
  return stream;
}

/** A plain TCP connection to 127.0.0.1:<port> in the daemon's own netns (host-network pods). */
export function connectLoopback(port: number): Promise<Duplex> {
  if (!Number.isInteger(port) || port < 1 || port > 65535) return Promise.reject(new InvalidArgumentError('port', `${port} is not a TCP port`));
  return new Promise((resolve, reject) => {
    const sock = connect({ host: '127.0.0.1', port });
    sock.once('connect', () => {
      sock.removeListener('error', reject);
      resolve(sock);
    });
    sock.once('error', (e) => reject(new InternalError(`port-forward to 127.0.0.1:${port}: ${e.message}`)));
  });
}
