// One remote-command session (exec or attach), whatever carries it: the
// transports (SPDY, WebSocket) hand over the client's streams, this joins
// them to the process's ProcessIO and ends with the status kubelet's
// remotecommand server would send. Backpressure is the streams' own: pipe()
// stops reading a source whose destination is full, in both directions.

import type { Readable, Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { Logger } from '../log';
import type { ProcessIO } from '../sandbox/controller';
import { ResizeDecoder } from './resize';
import { exitCodeStatus, internalErrorStatus, successStatus, type K8sStatus } from './status';

/** The client's side of the session, as the transport opened it. */
export interface ClientStreams {
  /** Bytes the client sends; its end is stdin's EOF. */
  stdin?: Readable;
  stdout?: Writable;
  stderr?: Writable;
  /** JSON TerminalSize objects (tty). */
  resize?: Readable;
  /** Sends the final status in the protocol's encoding and ends the error stream. */
  writeStatus(s: K8sStatus): Promise<void>;
}

export interface RemoteCommand {
  kind: 'exec' | 'attach';
  /** The exec'd command, for the exit-code message. */
  cmd: readonly string[];
  start(): Promise<ProcessIO>;
}

export class RemoteCommandSession {
  private io?: ProcessIO;
  private aborted = false;

  constructor(
    private readonly command: RemoteCommand,
    private readonly client: ClientStreams,
    private readonly log: Logger,
  ) {}

  /** Settles once the status is sent (the process ended) or the session was aborted. */
  async run(): Promise<void> {
    const what = this.command.kind === 'exec' ? 'error executing command in container' : 'error attaching to container';
    let io: ProcessIO;
    try {
      io = await this.command.start();
    } catch (err) {
      this.log.info({ err }, `${this.command.kind} could not start`);
      if (!this.aborted) await this.client.writeStatus(internalErrorStatus(`${what}: ${messageOf(err)}`));
      return;
    }
    if (this.aborted) {
      io.close();
      return;
    }
    this.io = io;
    this.connectInput(io);
    const outputs = [pipeOut(io.stdout, this.client.stdout), pipeOut(io.stderr, this.client.stderr)];
    let status: K8sStatus;
    try {
      const { exitCode } = await io.done;
      await Promise.all(outputs);
      this.log.info({ exitCode }, `${this.command.kind} ended`);
      status = exitCode === 0 || this.command.kind === 'attach' ? successStatus() : exitCodeStatus(exitCode, this.command.cmd);
    } catch (err) {
      this.log.info({ err }, `${this.command.kind} failed`);
      status = internalErrorStatus(`${what}: ${messageOf(err)}`);
    }
    if (this.aborted) return;
    await this.client.writeStatus(status);
    // Every stream of the session is released, as after an abort (which is now a no-op).
    this.aborted = true;
    io.close();
  }

  /** The client went away, or the server closes: the exec'd process is killed, an attachment dropped. Idempotent. */
  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    const { stdin, resize } = this.client;
    if (stdin && this.io?.stdin) stdin.unpipe(this.io.stdin);
    resize?.removeAllListeners('data');
    this.io?.close();
  }

  private connectInput(io: ProcessIO): void {
    const { stdin, resize } = this.client;
    if (stdin) {
      if (io.stdin) {
        // A process that exits before reading its stdin makes writes fail (EPIPE): that is the process's business.
        io.stdin.on('error', (err: Error) => this.log.debug({ err }, 'stdin of the process closed'));
        stdin.pipe(io.stdin as Writable);
      } else {
        stdin.resume();
      }
    }
    if (resize) {
      const decoder = new ResizeDecoder();
      resize.on('data', (chunk: Buffer) => {
        let sizes;
        try {
          sizes = decoder.push(chunk);
        } catch (err) {
          this.log.warn({ err }, 'bad resize message; later resizes are ignored');
          resize.removeAllListeners('data');
          resize.resume();
          return;
        }
        for (const size of sizes) io.resize(size).catch((err: unknown) => this.log.debug({ err, size }, 'resize failed'));
      });
    }
  }
}

/** Copies one output of the process to the client; settles when it is all handed to the client's stream (or either side is gone). */
async function pipeOut(src: NodeJS.ReadableStream | undefined, dst: Writable | undefined): Promise<void> {
  if (!src) return;
  if (!dst) {
    src.resume();
    return;
  }
  src.pipe(dst);
  try {
    await finished(src, { writable: false });
  } catch {
    // The process's side broke off: end the client's stream so nothing waits for more.
    dst.end();
    return;
  }
  await finished(dst, { readable: false }).catch(() => undefined);
}

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
