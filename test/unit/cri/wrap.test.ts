import { status } from '@grpc/grpc-js';
import t from 'tap';
import type { Handler } from '../../../src/cri/handler';
import { encodeGrpcMessage } from '../../../src/cri/grpc/metadata';
import { cancelReason, isReadOnly, MAX_STATUS_DETAILS, toGrpcStatus, wrapUnary } from '../../../src/cri/wrap';
import type { Logger } from '../../../src/log';
import * as E from '../../../common/errors';

const cases: Array<{ desc: string; err: unknown; code: status; details: RegExp }> = [
  { desc: 'invalid argument names the field', err: new E.InvalidArgumentError('pod_sandbox_id', 'is required'), code: status.INVALID_ARGUMENT, details: /^pod_sandbox_id: is required$/ },
  { desc: 'not found names kind and id', err: new E.NotFoundError('container', 'abc'), code: status.NOT_FOUND, details: /^container "abc" not found$/ },
  { desc: 'already exists', err: new E.AlreadyExistsError('pod sandbox', 'p1'), code: status.ALREADY_EXISTS, details: /p1/ },
  { desc: 'failed precondition', err: new E.FailedPreconditionError('container c is not running'), code: status.FAILED_PRECONDITION, details: /not running/ },
  { desc: 'unimplemented', err: new E.UnimplementedError('x'), code: status.UNIMPLEMENTED, details: /x/ },
  { desc: 'deadline', err: new E.DeadlineExceededError('agent did not answer'), code: status.DEADLINE_EXCEEDED, details: /agent/ },
  { desc: 'unauthenticated', err: new E.UnauthenticatedError('registry said 401'), code: status.UNAUTHENTICATED, details: /401/ },
  { desc: 'resource exhausted', err: new E.ResourceExhaustedError('frame too big'), code: status.RESOURCE_EXHAUSTED, details: /frame/ },
  { desc: 'unavailable', err: new E.UnavailableError('shutting down'), code: status.UNAVAILABLE, details: /shutting/ },
  { desc: 'internal typed', err: new E.InternalError('runc create failed'), code: status.INTERNAL, details: /^runc create failed$/ },
  { desc: 'untyped error is internal without a stack', err: new TypeError('boom'), code: status.INTERNAL, details: /^internal error: boom$/ },
  { desc: 'a thrown string', err: 'weird', code: status.INTERNAL, details: /weird/ },
];

for (const c of cases) {
  t.test(c.desc, async (t) => {
    const s = toGrpcStatus(c.err);
    t.equal(s.code, c.code);
    t.match(s.details, c.details);
    t.notMatch(s.details, /\n\s+at /, 'no stack trace');
  });
}

t.test('a status message that echoes a huge request is cut, so it fits in the trailers nghttp2 will send', async (t) => {
  // Found by the CRI fuzzer: a NOT_FOUND naming a 131 000-character id was never sent and stalled the connection.
  for (const id of ['a'.repeat(131_000), '\u00e9'.repeat(131_000), '\ud83d\ude42'.repeat(70_000)]) {
    const s = toGrpcStatus(new E.NotFoundError('container', id));
    t.equal(s.code, status.NOT_FOUND, 'the code is kept');
    t.ok(s.details.length <= MAX_STATUS_DETAILS, `${s.details.length} characters`);
    t.ok(encodeGrpcMessage(s.details).length < 60_000, 'percent-encoded (as the server sends it) under the 64 KiB header block');
    t.match(s.details, /^container "/, 'the start kept');
    t.match(s.details, /more characters\)$/, 'says it was cut');
  }
  const internal = toGrpcStatus(new TypeError('x'.repeat(10_000)));
  t.ok(internal.details.length <= MAX_STATUS_DETAILS, 'untyped errors too');
  t.equal(toGrpcStatus(new E.NotFoundError('container', 'abc')).details, 'container "abc" not found', 'a short message is unchanged');
});

t.test('a status message never holds a lone surrogate (not text; encodeURI throws on one)', async (t) => {
  const s = toGrpcStatus(new E.NotFoundError('container', 'x\ud800y\udc00'));
  t.doesNotThrow(() => encodeURI(s.details));
  t.equal(s.details, 'container "x\ufffdy\ufffd" not found');
  const cutInPair = toGrpcStatus(new E.InvalidArgumentError('f', '\ud83d\ude42'.repeat(5_000)));
  t.doesNotThrow(() => encodeURI(cutInPair.details), 'nor when the cut falls inside a pair');
});

t.test('reads log at debug, mutations at info', async (t) => {
  for (const m of ['ListPodSandbox', 'ContainerStatus', 'ImageFsInfo', 'Version', 'Status', 'ListContainerStats']) t.ok(isReadOnly(m), m);
  for (const m of ['RunPodSandbox', 'PullImage', 'ExecSync', 'UpdateRuntimeConfig', 'StopContainer', 'RemoveImage']) t.notOk(isReadOnly(m), m);
});

t.test("a cancelled call's signal says why: its deadline passed, or the caller cancelled", async (t) => {
  const now = 1_000_000;
  t.match(cancelReason('PullImage', now - 1, now), { constructor: E.DeadlineExceededError, message: /PullImage: the caller's deadline passed/ }, 'deadline as a number');
  t.match(cancelReason('PullImage', new Date(now), now), { constructor: E.DeadlineExceededError }, 'deadline as a Date, reached');
  t.match(cancelReason('PullImage', now + 5000, now), { constructor: E.CancelledError, message: /PullImage cancelled by the caller/ }, 'before the deadline: a cancel');
  t.match(cancelReason('PullImage', Infinity, now), { constructor: E.CancelledError }, 'no deadline: a cancel');
  t.equal(toGrpcStatus(cancelReason('X', Infinity, now)).code, status.CANCELLED, 'mapped to CANCELLED');
});

/** A unary call as the wrapper sees it (src/cri/grpc/call.ts): the request, cancel listeners, a deadline. */
function fakeCall(request: unknown) {
  const listeners: Array<() => void> = [];
  return {
    request,
    authority: 'localhost',
    onCancelled: (cb: () => void) => void listeners.push(cb),
    deadline: Infinity,
    cancel: () => listeners.forEach((l) => l()),
  };
}

/** A logger that counts child() calls and has `debug` off, as the daemon runs by default. */
function countingLogger() {
  let children = 0;
  const lines: string[] = [];
  const log = {
    child: () => (children++, log),
    isLevelEnabled: (level: string) => level !== 'debug',
    debug: (_o: unknown, m: string) => lines.push(`debug ${m}`),
    info: (_o: unknown, m: string) => lines.push(`info ${m}`),
    warn: (_o: unknown, m: string) => lines.push(`warn ${m}`),
    error: (_o: unknown, m: string) => lines.push(`error ${m}`),
  };
  return { log: log as unknown as Logger, children: () => children, lines };
}

const answer = (call: ReturnType<typeof fakeCall>, handler: Handler, log: Logger) =>
  wrapUnary('ListContainers', handler, { log, admit: () => () => undefined })(call).then(
    (res) => ({ err: null, res }),
    (err: unknown) => ({ err: toGrpcStatus(err), res: undefined }),
  );

t.test('a call answered is not aborted by a cancel reported after it', async (t) => {
  let signal: AbortSignal | undefined;
  const call = fakeCall({});
  const { log } = countingLogger();
  const r = await answer(
    call,
    async (_req, ctx) => {
      signal = ctx.signal;
      return { containers: [] };
    },
    log,
  );
  t.equal(r.err, null, 'answered');
  call.cancel();
  t.equal(signal?.aborted, false, 'not aborted after the answer (no error built for it)');
});

t.test('a call cancelled before its answer is aborted with the typed reason', async (t) => {
  const call = fakeCall({});
  const { log } = countingLogger();
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let signal: AbortSignal | undefined;
  const done = answer(
    call,
    async (_req, ctx) => {
      signal = ctx.signal;
      await gate;
      return {};
    },
    log,
  );
  await new Promise((r) => setImmediate(r));
  call.cancel();
  t.equal(signal?.aborted, true, 'aborted');
  t.type(signal?.reason, E.CancelledError, 'with a CancelledError');
  release();
  await done;
});

t.test('the child logger is made only when the call logs: a read with debug off makes none', async (t) => {
  const quiet = countingLogger();
  await answer(fakeCall({ container_id: 'c1' }), async () => ({}), quiet.log);
  t.equal(quiet.children(), 0, 'a read answered OK with debug off: no child logger');
  t.same(quiet.lines, [], 'and no line');
  const used = countingLogger();
  await answer(
    fakeCall({}),
    async (_req, ctx) => {
      ctx.log.info({}, 'hello');
      return {};
    },
    used.log,
  );
  t.equal(used.children(), 1, 'a handler that logs gets its child logger');
  const failed = countingLogger();
  const r = await answer(
    fakeCall({}),
    async () => {
      throw new E.InternalError('boom');
    },
    failed.log,
  );
  t.equal((r.err as { code: number }).code, status.INTERNAL);
  t.equal(failed.children(), 1, 'a failure is logged with the call ids');
  t.match(failed.lines, ['error ListContainers failed']);
});
