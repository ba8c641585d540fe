// A ProcessIO over in-memory streams, standing in for a controller's exec or
// attach: the test writes the process's output, reads what reached its
// stdin, ends it with an exit code, and sees whether close() was called.

import { PassThrough, Duplex } from 'node:stream';
import type { ProcessIO, StreamOptions, TerminalSize } from '../../../src/sandbox/controller';

export class FakeProcess implements ProcessIO {
  readonly stdin?: PassThrough;
  readonly stdout?: PassThrough;
  readonly stderr?: PassThrough;
  readonly resizes: TerminalSize[] = [];
  closed = 0;
  readonly done: Promise<{ exitCode: number }>;
  private settle!: (r: { exitCode: number }) => void;
  private fail!: (err: Error) => void;
  /** Everything written to the process's stdin, and whether it saw EOF. */
  inputBytes = Buffer.alloc(0);
  stdinEnded = false;
  private resized?: () => void;

  constructor(readonly opts: StreamOptions) {
    if (opts.stdin) {
      this.stdin = new PassThrough();
      this.stdin.on('data', (b: Buffer) => (this.inputBytes = Buffer.concat([this.inputBytes, b])));
      this.stdin.on('end', () => (this.stdinEnded = true));
    }
    if (opts.stdout) this.stdout = new PassThrough();
    if (opts.stderr && !opts.tty) this.stderr = new PassThrough();
    this.done = new Promise((resolve, reject) => {
      this.settle = resolve;
      this.fail = reject;
    });
    this.done.catch(() => undefined);
  }

  resize(size: TerminalSize): Promise<void> {
    this.resizes.push(size);
    this.resized?.();
    return Promise.resolve();
  }

  /** Resolves once `n` resizes have arrived. */
  waitResizes(n: number): Promise<void> {
    if (this.resizes.length >= n) return Promise.resolve();
    return new Promise((resolve) => {
      this.resized = () => {
        if (this.resizes.length >= n) resolve();
      };
    });
  }

  get input(): string {
    return this.inputBytes.toString();
  }

  /** Resolves once `n` bytes of stdin have arrived. */
  async waitInput(n: number): Promise<void> {
    while (this.inputBytes.length < n && this.stdin && !this.stdinEnded) await new Promise((resolve) => this.stdin?.once('data', resolve));
  }

  /** Resolves once the stdin has seen EOF. */
  async waitStdinEnd(): Promise<void> {
    if (this.stdinEnded || !this.stdin) return;
    await new Promise((resolve) => this.stdin?.once('end', resolve));
  }

  exit(exitCode: number): void {
    this.stdout?.end();
    this.stderr?.end();
    this.settle({ exitCode });
  }

  crash(err: Error): void {
    this.fail(err);
  }

  close(): void {
    this.closed++;
    this.stdout?.destroy();
    this.stderr?.destroy();
    this.stdin?.destroy();
  }
}

/** The PodService's streaming calls, answered by fakes the test inspects. */
export class FakePods {
  readonly processes: FakeProcess[] = [];
  readonly dials: { port: number; conn: Duplex; peer: Duplex }[] = [];
  execCalls: { containerId: string; cmd: string[] }[] = [];
  failExec?: Error;
  private waiters: (() => void)[] = [];

  exec(containerId: string, cmd: string[], opts: StreamOptions): Promise<ProcessIO> {
    this.execCalls.push({ containerId, cmd });
    if (this.failExec) return Promise.reject(this.failExec);
    return Promise.resolve(this.add(new FakeProcess(opts)));
  }

  attach(_containerId: string, opts: StreamOptions): Promise<ProcessIO> {
    return Promise.resolve(this.add(new FakeProcess(opts)));
  }

  portForward(_podId: string, port: number): Promise<Duplex> {
    if (port === 1) return Promise.reject(new Error('connection refused'));
    const [conn, peer] = duplexPair();
    this.dials.push({ port, conn, peer });
    this.wake();
    return Promise.resolve(conn);
  }

  /** Resolves with the n-th process (0-based) once it exists. */
  async process(n = 0): Promise<FakeProcess> {
    while (!this.processes[n]) await new Promise<void>((resolve) => this.waiters.push(resolve));
    return this.processes[n];
  }

  async dial(n = 0): Promise<{ port: number; conn: Duplex; peer: Duplex }> {
    while (!this.dials[n]) await new Promise<void>((resolve) => this.waiters.push(resolve));
    return this.dials[n];
  }

  private add(p: FakeProcess): FakeProcess {
    this.processes.push(p);
    this.wake();
    return p;
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}

/** Two connected Duplexes (Node 20 has no stream.duplexPair). */
export function duplexPair(): [Duplex, Duplex] {
  const ends: Duplex[] = [];
  const mk = (peer: number): Duplex =>
    new Duplex({
      read() {},
      write(chunk: Buffer, _enc, cb) {
        ends[peer].push(chunk);
        cb();
      },
      final(cb) {
        ends[peer].push(null);
        cb();
      },
    });
  ends.push(mk(1), mk(0));
  return [ends[0], ends[1]];
}
