// The one wrapper around every CRI method: it turns a Handler into a method
// of the CRI's gRPC server (src/cri/grpc) that validates the decoded request, gives the call a child logger,
// times it, logs the outcome (info for calls that change state, debug for
// reads) and maps thrown errors to a gRPC status with `toGrpcStatus` — the
// only place in vmpod where that mapping happens.

import { CancelledError, DeadlineExceededError, GrpcStatus, InvalidArgumentError, isVmpodError } from '../../common/errors';
import type { Logger } from '../log';
import type { CallStatus, GrpcCall, ServerStreamCall } from './grpc/call';
import type { CallContext, Handler, HandlerTable } from './handler';

/** Marker the lenient deserializer (see proto.ts users in server.ts) puts in place of a body that did not decode. */
export const MALFORMED = Symbol('malformed request');
export interface MalformedRequest {
  [MALFORMED]: string;
}

export function isMalformed(req: unknown): req is MalformedRequest {
  return typeof req === 'object' && req !== null && MALFORMED in req;
}

/** Reads are logged at debug so that kubelet's constant polling does not flood the log. */
const READ_ONLY = /^(List|Stream|Version|Status|ImageStatus|ImageFsInfo|ContainerStatus|PodSandboxStatus|ContainerStats|PodSandboxStats|RuntimeConfig|ListMetricDescriptors|ListPodSandboxMetrics)/;

export function isReadOnly(method: string): boolean {
  return READ_ONLY.test(method);
}

/**
 * The longest status message sent, in characters. The message travels in the
 * trailers (grpc-message), a header block, and nghttp2 does not send a header
 * block past 64 KiB: it drops it without a word, the call never ends, and
 * every other call on the connection stalls behind it. Messages echo what the
 * caller sent (a NOT_FOUND names the id it was given), so a 131 000-character
 * container id stalled kubelet's whole connection (found by the CRI fuzzer,
 * test/fault/fuzz). The message is sent percent-encoded
 * (src/cri/grpc/metadata.ts): at most 4 UTF-8 bytes per character, 3 bytes
 * each encoded, so 2048 characters stay under 25 KiB whatever they are.
 */
export const MAX_STATUS_DETAILS = 2048;

/** Lone UTF-16 surrogates: not text, and not encodable as UTF-8 (they would reach the client as U+FFFD anyway). */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** A status message that can always be sent: bounded, and well-formed UTF-16. */
export function boundedDetails(details: string): string {
  const keep = MAX_STATUS_DETAILS - 40;
  const cut = details.length <= MAX_STATUS_DETAILS ? details : `${details.slice(0, keep)}… (${details.length - keep} more characters)`;
  return cut.replace(LONE_SURROGATE, '\ufffd');
}

export function toGrpcStatus(err: unknown): CallStatus {
  if (isVmpodError(err)) return { code: err.grpcStatus, details: boundedDetails(err.message) };
  // Anything untyped is a bug or an unexpected system error: say so without a stack trace.
  const message = err instanceof Error ? err.message : String(err);
  return { code: GrpcStatus.INTERNAL, details: boundedDetails(`internal error: ${message}`) };
}

/** Ids worth carrying on the call's logger, pulled from whichever fields the request has. */
function idsOf(req: Record<string, unknown>): Record<string, string> {
  const ids: Record<string, string> = {};
  const pod = req.pod_sandbox_id;
  const ctr = req.container_id;
  if (typeof pod === 'string' && pod) ids.podSandboxId = pod;
  if (typeof ctr === 'string' && ctr) ids.containerId = ctr;
  return ids;
}

/** A call's context, and `answered()` for the frame to say the call is over. */
function contextFor(method: string, req: Record<string, unknown>, log: Logger, call: GrpcCall): { ctx: CallContext; answered: () => void } {
  let controller: AbortController | undefined;
  let reason: Error | undefined;
  let over = false;
  // The server has ended the call with the client already; the typed reason
  // is what the work that stops sees, logs and counts (a deadline is not a
  // cancel). A cancel after the answer has nothing left to stop, and its
  // error (a stack trace captured per call) would be a fixed cost of every
  // call (issue 18 profile).
  call.onCancelled(() => {
    if (over || reason) return;
    reason = cancelReason(method, call.deadline, Date.now());
    controller?.abort(reason);
  });
  // The child logger and the signal are made on first use: most reads never
  // log (debug, off by default) and never look at the signal, and pino's
  // child() and an AbortSignal (~10 µs each, issue 18 profiles) were fixed
  // costs of every call.
  let child: Logger | undefined;
  const ctx: CallContext = {
    get log() {
      return (child ??= log.child({ method, ...idsOf(req) }));
    },
    get signal() {
      if (!controller) {
        controller = new AbortController();
        if (reason) controller.abort(reason);
      }
      return controller.signal;
    },
  };
  return { ctx, answered: () => (over = true) };
}

/** Why a call was cancelled: its deadline passed, or the caller cancelled (or went away). */
export function cancelReason(method: string, deadline: Date | number, now: number): Error {
  const at = deadline instanceof Date ? deadline.getTime() : deadline;
  if (Number.isFinite(at) && at <= now) return new DeadlineExceededError(`${method}: the caller's deadline passed`);
  return new CancelledError(`${method} cancelled by the caller`);
}

function logOutcome(root: Logger, ctx: CallContext, method: string, started: bigint, err?: unknown): void {
  const durationMs = Number(process.hrtime.bigint() - started) / 1e6;
  const level = isReadOnly(method) ? 'debug' : 'info';
  if (err === undefined) {
    if (root.isLevelEnabled(level)) ctx.log[level]({ durationMs }, `${method} ok`);
    return;
  }
  const status = toGrpcStatus(err);
  const fields = { durationMs, code: GrpcStatus[status.code], error: status.details };
  if (status.code === GrpcStatus.INTERNAL) ctx.log.error({ ...fields, stack: (err as Error)?.stack }, `${method} failed`);
  else ctx.log[level === 'debug' ? 'debug' : 'warn'](fields, `${method} failed`);
}

export interface WrapOptions {
  log: Logger;
  /** Called at the start of each call; throws (UnavailableError) while the daemon is shutting down. */
  admit: () => () => void;
}

/**
 * The frame of every call: its context, admission (released once, however
 * it ends), the malformed-body check, `body`, one log line of the outcome,
 * then `ok` or `failed` to answer the caller.
 */
function serveCall<T>(
  method: string,
  call: GrpcCall,
  opts: WrapOptions,
  body: (req: Record<string, unknown>, ctx: CallContext) => Promise<T>,
  ok: (res: T) => void,
  failed: (err: unknown) => void,
): void {
  const started = process.hrtime.bigint();
  const req = (call.request ?? {}) as Record<string, unknown>;
  const { ctx, answered } = contextFor(method, req, opts.log, call);
  let release: (() => void) | undefined;
  const run = async (): Promise<T> => {
    release = opts.admit();
    if (isMalformed(req)) throw malformed(method, req);
    return body(req, ctx);
  };
  run().then(
    (res) => {
      release?.();
      logOutcome(opts.log, ctx, method, started);
      answered();
      ok(res);
    },
    (err: unknown) => {
      release?.();
      logOutcome(opts.log, ctx, method, started, err);
      answered();
      failed(err);
    },
  );
}

/** A unary method's handler for the server: resolves with the answer, rejects with what `toGrpcStatus` maps. */
export function wrapUnary(method: string, handler: Handler, opts: WrapOptions) {
  return (call: GrpcCall): Promise<unknown> =>
    new Promise((resolve, reject) =>
      serveCall(
        method,
        call,
        opts,
        async (req, ctx): Promise<unknown> => handler(req, ctx),
        (res) => resolve(res ?? {}),
        reject,
      ),
    );
}

/** Server-streaming methods: the handler yields each message. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- typed by each implementing module
export type StreamHandler = (req: any, ctx: CallContext) => AsyncIterable<unknown>;

export function wrapServerStream(method: string, handler: StreamHandler, opts: WrapOptions) {
  return (call: ServerStreamCall): Promise<void> =>
    new Promise((resolve, reject) =>
      serveCall(
        method,
        call,
        opts,
        async (req, ctx): Promise<void> => {
          const messages = handler(req, ctx);
          // Headers now: a stream that may stay quiet for long (GetContainerEvents) is seen to be open at once.
          call.sendHeaders();
          for await (const msg of messages) {
            if (ctx.signal.aborted) return;
            // A client that stops reading fills the stream's buffer: wait for it to drain (or the call to end),
            // so the handler's own bound applies (an event subscriber that falls behind is dropped) instead of
            // unbounded buffering here.
            await call.write(msg);
          }
        },
        resolve,
        reject,
      ),
    );
}

function malformed(method: string, req: MalformedRequest): Error {
  return new InvalidArgumentError('request', `${method} request body is not a valid protobuf message: ${req[MALFORMED]}`);
}

/** Told the outcome of every call of an observed table (src/metrics counts and times them). */
export interface CallObserver {
  /** `code` is the gRPC status name the wrapper answers with (`OK`, `NOT_FOUND`, ...). */
  callDone(method: string, code: string, seconds: number): void;
}

/**
 * `table` with each handler reporting its method, gRPC code (from
 * `toGrpcStatus`, the same mapping the caller gets) and duration to
 * `observer`. The daemon applies it to its tables in the composition root,
 * so the wrapper itself stays free of metrics. Calls refused before their
 * handler runs (shutdown admission, an undecodable body) are not observed.
 */
export function observeCalls(table: HandlerTable, observer: CallObserver): HandlerTable {
  const out: HandlerTable = {};
  for (const [method, handler] of Object.entries(table)) {
    out[method] = async (req, ctx) => {
      const started = process.hrtime.bigint();
      const seconds = (): number => Number(process.hrtime.bigint() - started) / 1e9;
      try {
        const res: unknown = await handler(req, ctx);
        observer.callDone(method, 'OK', seconds());
        return res;
      } catch (err) {
        observer.callDone(method, GrpcStatus[toGrpcStatus(err).code], seconds());
        throw err;
      }
    };
  }
  return out;
}
