// Attach in a VM pod (CRI Attach, kubectl attach): the container's own
// stdio. Its output is already read from the agent by the log pumps
// (pod-containers.ts); they hand each chunk to every attachment as well as
// to the log. The log and the container must never wait for an attached
// client, so an attachment keeps at most ATTACH_BUFFER_BYTES per stream that
// its client has not read, and a client that falls further behind is
// disconnected (its session ends with RESOURCE_EXHAUSTED). containerd
// instead writes to attached clients synchronously from the shim's copy
// loop (cio WriterGroup), so there a stalled client stalls the container
// and its log; kubelet itself buffers nothing here.
//
// stdin goes to the container's init (WriteStdin with exec id ""); the
// container must have been created with stdin. With stdin_once the first
// attach session that had stdin closes the container's stdin when it ends,
// as the CRI says; without it, ending an attachment leaves stdin open for
// the next one.

import { Readable, type Writable } from 'node:stream';
import { FailedPreconditionError, ResourceExhaustedError } from '../../../common/errors';
import type { ProcessIO, StreamOptions, TerminalSize } from '../controller';
import { guestStdin, resizeGuestTty, type GuestPod } from './exec-stream';

/** Unread output an attachment keeps per stream before its client is disconnected. */
export const ATTACH_BUFFER_BYTES = 1 << 20;

export interface AttachTarget {
  pod: GuestPod;
  containerId: string;
  /** The container was created with stdin (CRI ContainerConfig.stdin) / stdin_once / a terminal. */
  stdin: boolean;
  stdinOnce: boolean;
  tty: boolean;
  /** Settles when the container has exited and its output was handed out (exit code). */
  exited: Promise<{ code: number }>;
  /** Called once when the session ends, to stop handing it output. */
  detach: (a: Attachment) => void;
}

export class Attachment {
  readonly stdout?: Readable;
  readonly stderr?: Readable;
  readonly stdin?: Writable;
  readonly done: Promise<{ exitCode: number }>;
  private closed = false;
  private readonly abort = new AbortController();
  private fail!: (err: Error) => void;
  private stdinClosed = false;
  private released = false;

  constructor(
    private readonly t: AttachTarget,
    private readonly opts: StreamOptions,
  ) {
    if (opts.stdin && !t.stdin) throw new FailedPreconditionError(`container ${t.containerId} was not created with stdin; attach without stdin, or create it with stdin: true`);
    // Pushed to by offer(); the pumps never wait for a client, so read() has nothing to do.
    const out = (): Readable => new Readable({ read: () => undefined });
    if (opts.stdout) this.stdout = out();
    if (opts.stderr && !t.tty) this.stderr = out();
    if (opts.stdin) {
      this.stdin = guestStdin({ pod: t.pod, containerId: t.containerId, execId: '', signal: this.abort.signal, onEnd: () => this.endStdin() });
    }
    const failed = new Promise<never>((_, reject) => (this.fail = reject));
    this.done = Promise.race([
      t.exited.then(({ code }) => {
        this.stdout?.push(null);
        this.stderr?.push(null);
        return { exitCode: code };
      }),
      failed,
    ]);
    this.done.catch(() => undefined); // the consumer may never look at it
    void this.done.then(
      () => this.release(false),
      () => this.release(true),
    );
  }

  /** A chunk of the container's output (from the log pump); never waits. */
  offer(stream: 'stdout' | 'stderr', b: Buffer): void {
    const r = stream === 'stdout' ? this.stdout : this.stderr;
    if (this.closed || !r || r.destroyed) return;
    if (r.readableLength + b.length > ATTACH_BUFFER_BYTES) {
      this.fail(new ResourceExhaustedError(`attach to container ${this.t.containerId}: the client fell more than ${ATTACH_BUFFER_BYTES} bytes behind the container's ${stream}; disconnected`));
      this.close();
      return;
    }
    r.push(b);
  }

  resize(size: TerminalSize): Promise<void> {
    return resizeGuestTty(this.t.pod, this.t.containerId, '', this.t.tty, size);
  }

  /** The client went away: the container runs on; with stdin_once its stdin is closed. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.opts.stdin && this.t.stdinOnce) void this.endStdin().catch(() => undefined);
    this.fail(new FailedPreconditionError(`attach to container ${this.t.containerId}: the session was closed`));
    this.release(true);
  }

  private endStdin(): Promise<void> {
    // Without stdin_once the container's stdin stays open for the next attachment.
    if (!this.t.stdinOnce || this.stdinClosed || !this.t.pod.alive) return Promise.resolve();
    this.stdinClosed = true;
    return this.t.pod.agent.call('CloseStdin', { container_id: this.t.containerId, exec_id: '' }).then(() => undefined);
  }

  /** Stops the session; after the container's end the output already handed out stays readable. */
  private release(dropOutput: boolean): void {
    if (this.released) return;
    this.released = true;
    this.closed = true;
    this.abort.abort();
    this.t.detach(this);
    this.stdin?.destroy();
    if (dropOutput) {
      this.stdout?.destroy();
      this.stderr?.destroy();
    }
  }

  io(): ProcessIO {
    return { stdin: this.stdin, stdout: this.stdout, stderr: this.stderr, resize: (s) => this.resize(s), done: this.done, close: () => this.close() };
  }
}
