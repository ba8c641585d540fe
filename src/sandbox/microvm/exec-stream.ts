// Streaming exec in a VM pod (CRI Exec, kubectl exec): the agent runs the
// process (ExecProcess) and the session moves its bytes with the agent's
// calls. Backpressure is end to end: an output stream is read from the agent
// (ReadStdout/ReadStderr long polls) only while the consumer wants more, so a
// client that stops reading leaves the output in the agent's bounded buffer,
// and the agent then stops reading the process's pipe or pty; stdin is one
// WriteStdin at a time, each acknowledged by the agent before the next. The
// session's life is its WaitProcess long polls: each has a deadline, so a
// guest that stops answering ends the session with an error.

import { randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { AgentUnavailableError, MAX_STREAM_CHUNK, type AgentClient } from '../../agent-client';
import { FailedPreconditionError, GrpcStatus, InvalidArgumentError, UnavailableError } from '../../../common/errors';
import { RemoteStatusError } from '../../../common/ttrpc';
import { sleep } from '../../../common/time';
import type { OciProcess } from '../../oci/types';
import type { ProcessIO, StreamOptions, TerminalSize } from '../controller';
import { pumpOutput, type PumpEnd } from './output-pump';

/** What a session needs of its pod (PodVm has it). */
export interface GuestPod {
  readonly id: string;
  readonly agent: AgentClient;
  readonly alive: boolean;
  readonly detached: boolean;
}

/** Bytes asked of the agent per read: with the Readable's own buffer, what one session holds at most per stream. */
export const STREAM_READ_BYTES = 256 << 10;
/** How long one WaitProcess long poll waits in the guest. */
const WAIT_POLL_MS = 5000;

/**
 * A Readable fed by one of a guest process's output streams. The next read
 * is asked of the agent only once the consumer has taken what came before
 * (push() said the buffer has room, or _read() was called). Errors are not
 * raised on the stream (nobody may be listening); they are in `ended`.
 */
export function guestOutput(o: { pod: GuestPod; containerId: string; execId: string; stream: 'stdout' | 'stderr'; signal: AbortSignal }): {
  readable: Readable;
  ended: Promise<PumpEnd>;
} {
  let wake: (() => void) | undefined;
  const release = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const readable = new Readable({
    highWaterMark: STREAM_READ_BYTES,
    read: release,
    destroy(err, cb) {
      release(); // let the pump see the end
      cb(err);
    },
  });
  const ended = pumpOutput({
    agent: o.pod.agent,
    containerId: o.containerId,
    execId: o.execId,
    stream: o.stream,
    maxBytes: STREAM_READ_BYTES,
    signal: o.signal,
    stopped: () => readable.destroyed || !o.pod.alive || o.pod.detached,
    sink: (b) => {
      if (readable.destroyed || readable.push(b)) return;
      return new Promise<void>((resolve) => (wake = resolve));
    },
  }).then((end) => {
    if (end.end === 'eof') readable.push(null);
    else readable.destroy();
    return end;
  });
  return { readable, ended };
}

/** Discards one output stream the client did not ask for, so the process never blocks on it. */
function drainOutput(pod: GuestPod, containerId: string, execId: string, stream: 'stdout' | 'stderr', signal: AbortSignal): Promise<PumpEnd> {
  return pumpOutput({ agent: pod.agent, containerId, execId, stream, signal, stopped: () => !pod.alive || pod.detached, sink: () => undefined });
}

/** stdin as a Writable: each chunk is acknowledged by the agent before the write's callback; end() closes the process's stdin. */
export function guestStdin(o: { pod: GuestPod; containerId: string; execId: string; signal: AbortSignal; onEnd: () => Promise<void> }): Writable {
  const ids = { container_id: o.containerId, exec_id: o.execId };
  const w = new Writable({
    highWaterMark: 64 << 10,
    write(chunk: Buffer, _enc, cb) {
      void (async () => {
        // No deadline: the agent answers once the process took the bytes, and a process may
        // not read its stdin for a long time. A dead guest ends the session through its waits.
        for (let off = 0; off < chunk.length; off += MAX_STREAM_CHUNK) {
          await o.pod.agent.call('WriteStdin', { ...ids, data: chunk.subarray(off, off + MAX_STREAM_CHUNK) }, { timeoutMs: 0, signal: o.signal });
        }
      })().then(() => cb(), cb);
    },
    final(cb) {
      o.onEnd().then(() => cb(), cb);
    },
  });
  // A write that fails (the process exited, the session closed) ends stdin; the consumer may not listen.
  w.on('error', () => undefined);
  return w;
}

/** WaitProcess long polls until the process has exited; a lost connection is retried while the VM lives. */
export async function waitGuestExit(pod: GuestPod, containerId: string, execId: string, signal: AbortSignal): Promise<number> {
  for (;;) {
    if (signal.aborted) throw new UnavailableError(`exec ${execId} in container ${containerId}: the session was closed`);
    if (!pod.alive) throw new FailedPreconditionError(`pod ${pod.id}: the pod VM ended while container ${containerId} ran a process`);
    if (pod.detached) throw new UnavailableError(`pod ${pod.id}: the daemon let go of the pod VM (shutdown)`);
    try {
      const r = await pod.agent.waitProcess({ container_id: containerId, exec_id: execId, wait_ms: WAIT_POLL_MS }, { signal });
      if (r.exited) return r.exit_code;
    } catch (err) {
      // A lost connection may come back while the VM lives; a closed client never does.
      if (!(err instanceof AgentUnavailableError) || signal.aborted || !pod.alive || pod.agent.isClosed) throw err;
      await sleep(500);
    }
  }
}

/** The first error among the output pumps' ends, if any. */
export function outputError(ends: PumpEnd[], what: string): Error | undefined {
  for (const e of ends) {
    if (e.end === 'error') return e.err instanceof Error ? e.err : new UnavailableError(`${what}: output stream failed: ${String(e.err)}`);
  }
  return undefined;
}

/** Runs `proc` next to the container's init and gives its streams. */
export async function openExec(pod: GuestPod, containerId: string, proc: OciProcess, opts: StreamOptions): Promise<ProcessIO> {
  const execId = `exec-${randomBytes(8).toString('hex')}`;
  const ids = { container_id: containerId, exec_id: execId };
  await pod.agent.call('ExecProcess', { ...ids, process_json: Buffer.from(JSON.stringify({ ...proc, terminal: opts.tty })), stdin: opts.stdin });
  return streamGuestProcess(pod, containerId, execId, opts, `exec ${execId} in container ${containerId}`);
}

/**
 * The session of a process the agent has started, (containerId, execId):
 * an exec, or a debug process in the guest itself (containerId "").
 */
export function streamGuestProcess(pod: GuestPod, containerId: string, execId: string, opts: StreamOptions, what: string): ProcessIO {
  const ids = { container_id: containerId, exec_id: execId };
  const abort = new AbortController();
  const signal = abort.signal;
  let exited = false;
  const stream = (name: 'stdout' | 'stderr', wanted: boolean): { readable?: Readable; ended: Promise<PumpEnd> } =>
    wanted ? guestOutput({ pod, containerId, execId, stream: name, signal }) : { ended: drainOutput(pod, containerId, execId, name, signal) };
  // With a terminal, stderr is the terminal too: the agent reports it at EOF at once.
  const out = stream('stdout', opts.stdout);
  const err = stream('stderr', opts.stderr && !opts.tty);
  const stdin = opts.stdin ? guestStdin({ pod, containerId, execId, signal, onEnd: () => pod.agent.call('CloseStdin', ids).then(() => undefined) }) : undefined;
  const exit = waitGuestExit(pod, containerId, execId, signal).then((code) => {
    exited = true;
    return code;
  });
  const done = (async () => {
    const [exitCode, ...ends] = await Promise.all([exit, out.ended, err.ended]);
    const failed = outputError(ends, what);
    if (failed) throw failed;
    if (ends.some((e) => e.end !== 'eof')) throw new UnavailableError(`${what}: the session ended before all output was read`);
    return { exitCode };
  })();
  done.catch(() => undefined); // the consumer may never look at it
  let closed = false;
  const close = (): void => {
    if (closed) return;
    closed = true;
    // The client went away: the process goes too (kill the process itself, not only runc).
    if (!exited && pod.alive) void pod.agent.call('SignalProcess', { ...ids, signal: 9 }).catch(() => undefined);
    abort.abort();
    out.readable?.destroy();
    err.readable?.destroy();
    stdin?.destroy();
  };
  // Once done, nothing of the session remains but the streams the consumer holds.
  void done.then(
    () => abort.abort(),
    () => close(),
  );
  return {
    stdin,
    stdout: out.readable,
    stderr: err.readable,
    resize: (size: TerminalSize) => resizeGuestTty(pod, containerId, execId, opts.tty, size),
    done,
    close,
  };
}

export async function resizeGuestTty(pod: GuestPod, containerId: string, execId: string, tty: boolean, size: TerminalSize): Promise<void> {
  if (!tty) throw new FailedPreconditionError(`container ${containerId}: resize asked of a session without a terminal`);
  const ok = (n: number): boolean => Number.isInteger(n) && n >= 0 && n <= 0xffff;
  if (!ok(size.width) || !ok(size.height)) throw new InvalidArgumentError('size', `${size.width}x${size.height} does not fit a terminal (0..65535 each)`);
  if (!pod.alive) return;
  try {
    await pod.agent.call('ResizeTty', { container_id: containerId, exec_id: execId, rows: size.height, cols: size.width });
  } catch (err) {
    // A resize may race the process's end; once collected the agent no longer knows it.
    if (!(err instanceof RemoteStatusError && err.grpcStatus === GrpcStatus.NOT_FOUND)) throw err;
  }
}
