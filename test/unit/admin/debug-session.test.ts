// `vmpod debug` over the admin socket without a VM: the frame codec, the
// request's checks, PodsView's gate ([debug] guest_shell) and controller
// dispatch, and a whole session between the real server and the real CLI
// client with a fake guest process (PassThrough streams): stdin in, stdout
// and stderr apart, resize, the exit code; a refusal is one line and exit
// 1; a client that goes away mid-stream closes the process, and nothing of
// the session is left.

import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import t from 'tap';
import { FailedPreconditionError, InvalidArgumentError, NotFoundError } from '../../../common/errors';
import { debugSession, type DebugStdio } from '../../../src/admin/debug-client';
import { CHANNEL, encodeFrame, FrameReader, parseExit, parseResize } from '../../../src/admin/frames';
import { GUEST_SHELL_KEY, PodsView, type AdminPods } from '../../../src/admin/pods-view';
import { encodeRequest, parseRequest, type DebugRequest } from '../../../src/admin/protocol';
import { listenAdmin } from '../../../src/admin/server';
import { parseGuestDebugArgs } from '../../../src/cli/guest-debug';
import { silentLogger } from '../../../src/log';
import type { DebugProcessOptions, ProcessIO, SandboxController, TerminalSize } from '../../../src/sandbox/controller';
import type { SandboxRecord } from '../../../src/store/sandbox';
import { readyPodRecord } from './records';

const A = 'a'.repeat(64);

t.test('frames: split anywhere, bounded, known channels only', async (t) => {
  const bytes = Buffer.concat([encodeFrame(CHANNEL.stdin, 'hello'), encodeFrame(CHANNEL.closeStdin), encodeFrame(CHANNEL.resize, '{"rows":3,"cols":4}')]);
  const r = new FrameReader(64, [CHANNEL.stdin, CHANNEL.resize, CHANNEL.closeStdin]);
  const got = [];
  for (const b of bytes) got.push(...r.push(Buffer.from([b])));
  t.same(
    got.map((f) => [f.channel, f.payload.toString()]),
    [
      [0, 'hello'],
      [255, ''],
      [4, '{"rows":3,"cols":4}'],
    ],
    'fed a byte at a time, the same frames come out',
  );
  t.equal(r.pending, 0);
  t.throws(() => new FrameReader(16, [0]).push(encodeFrame(0, 'x'.repeat(17))), InvalidArgumentError, 'a frame larger than the bound is refused from its header');
  t.throws(() => new FrameReader(16, [0]).push(encodeFrame(1, 'x')), /unknown channel 1/, 'a channel this side does not take is refused');
  t.same(parseResize(Buffer.from('{"rows":24,"cols":80}')), { rows: 24, cols: 80 });
  t.throws(() => parseResize(Buffer.from('{"rows":-1,"cols":80}')), InvalidArgumentError);
  t.same(parseExit(Buffer.from('{"exitCode":3}')), { exitCode: 3 });
  t.same(parseExit(Buffer.from('{"error":{"code":"X","message":"m"}}')), { error: { code: 'X', message: 'm' } });
  t.throws(() => parseExit(Buffer.from('{}')));
});

t.test('the debug request: defaults and checks', async (t) => {
  t.same(parseRequest('{"v":1,"cmd":"debug","pod":"ab"}'), { cmd: 'debug', pod: 'ab', argv: ['/bin/sh'], tty: false, rows: 0, cols: 0, term: '' }, 'a shell by default, on pipes');
  t.same(parseRequest(encodeRequest({ cmd: 'debug', pod: 'ab', argv: ['cat', '/proc/version'], tty: true, rows: 24, cols: 80, term: 'xterm-256color' }).trim()), {
    cmd: 'debug',
    pod: 'ab',
    argv: ['cat', '/proc/version'],
    tty: true,
    rows: 24,
    cols: 80,
    term: 'xterm-256color',
  });
  const bad: Array<[string, string, RegExp]> = [
    ['argv not a list of strings', '{"v":1,"cmd":"debug","pod":"ab","argv":[1]}', /argv/],
    ['a program named like an option', '{"v":1,"cmd":"debug","pod":"ab","argv":["-c"]}', /argv/],
    ['tty not a bool', '{"v":1,"cmd":"debug","pod":"ab","tty":"yes"}', /tty/],
    ['a terminal type with a control character', '{"v":1,"cmd":"debug","pod":"ab","term":"x\\u001b"}', /term/],
    ['rows out of range', '{"v":1,"cmd":"debug","pod":"ab","rows":70000}', /rows/],
    ['an unknown field', '{"v":1,"cmd":"debug","pod":"ab","user":"x"}', /user/],
  ];
  for (const [what, line, err] of bad) t.throws(() => parseRequest(line), err, what);
});

t.test('the CLI arguments: the command after --, a terminal only for a shell on a terminal or with -t', async (t) => {
  const p = (argv: string[], tty: boolean) => parseGuestDebugArgs(['--listen', '/run/x/vmpod.sock', ...argv], tty, { rows: 30, columns: 100 }, 'xterm', []).req;
  t.match(p(['ab'], true), { pod: 'ab', argv: ['/bin/sh'], tty: true, rows: 30, cols: 100, term: 'xterm' }, 'no command on a terminal: an interactive shell on a pty');
  t.match(p(['ab'], false), { argv: ['/bin/sh'], tty: false, rows: 0, term: '' }, 'no command, no terminal: a shell on pipes');
  t.match(p(['ab', '--', 'ls', '--help'], true), { argv: ['ls', '--help'], tty: false }, 'a command on pipes; its options are its own');
  t.match(p(['-t', 'ab', '--', 'top'], true), { argv: ['top'], tty: true }, '-t asks for a terminal');
  t.throws(() => p(['ab', 'ls'], false), /the command goes after --/);
  t.throws(() => p(['ab', '--'], false), /nothing after --/);
});

function rec(id: string, handler: string): SandboxRecord {
  return readyPodRecord(id, handler);
}

const store = (records: SandboxRecord[]) => ({
  list: () => records,
  resolve: (ref: string) => {
    const m = records.filter((r) => r.id.startsWith(ref));
    if (m.length !== 1) throw new NotFoundError('pod sandbox', ref);
    return m[0];
  },
});

/** A guest process made of streams: stdin upper-cased to stdout; at stdin's end "bye" on stderr and exit 7 (unless it ignores its stdin's end, as a shell running `sleep` does). */
function fakeProcess(endsWithStdin = true) {
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let exit!: (v: { exitCode: number }) => void;
  const done = new Promise<{ exitCode: number }>((r) => (exit = r));
  const sizes: TerminalSize[] = [];
  const state = { closed: 0 };
  stdin.on('data', (b: Buffer) => stdout.write(b.toString().toUpperCase()));
  stdin.on('end', () => {
    if (!endsWithStdin) return;
    stderr.end('bye\n');
    stdout.end();
    exit({ exitCode: 7 });
  });
  const io: ProcessIO = {
    stdin,
    stdout,
    stderr,
    resize: async (s) => void sizes.push(s),
    done,
    close: () => {
      state.closed++;
      stdout.destroy();
      stderr.destroy();
    },
  };
  return { io, sizes, state };
}

t.test('PodsView: off unless configured, naming the key; the controller runs it', async (t) => {
  const seen: Array<[string, string[], DebugProcessOptions]> = [];
  const proc = fakeProcess();
  const vm = { handler: 'vm', debugProcess: async (sb: { id: string }, argv: string[], o: DebugProcessOptions) => (seen.push([sb.id, argv, o]), proc.io) } as unknown as SandboxController;
  const runc = { handler: 'runc' } as unknown as SandboxController;
  const controllers = new Map([
    ['vm', vm],
    ['runc', runc],
  ]);
  const B = 'b'.repeat(64);
  const req: DebugRequest = { cmd: 'debug', pod: 'a', argv: ['sh'], tty: true, rows: 24, cols: 80, term: 'xterm' };
  const off = new PodsView(store([rec(A, 'vm')]), controllers);
  await t.rejects(off.openDebug(req), FailedPreconditionError, 'off by default');
  await t.rejects(off.openDebug(req), { message: new RegExp(`${GUEST_SHELL_KEY.replace(/[[\]]/g, '\\$&')} = true`) }, 'the refusal names the config key');
  t.same(seen, [], 'and nothing reached a controller');
  const on = new PodsView(store([rec(A, 'vm'), rec(B, 'runc')]), controllers, { guestShell: true });
  const opened = await on.openDebug(req);
  t.equal(opened.pod, A, 'the full pod id');
  t.same(seen, [[A, ['sh'], { tty: true, size: { width: 80, height: 24 }, env: ['TERM=xterm'] }]], 'argv, terminal size and TERM reach the controller');
  await t.rejects(on.openDebug({ ...req, pod: 'b' }), /no guest of its own/, 'a controller without debugProcess says why');
});

function stdio() {
  const stdin = new PassThrough();
  const out = new PassThrough();
  const err = new PassThrough();
  let stdout = '';
  let stderr = '';
  out.on('data', (b: Buffer) => (stdout += b.toString()));
  err.on('data', (b: Buffer) => (stderr += b.toString()));
  const io = { stdin, stdout: Object.assign(out, { rows: 40, columns: 120 }), stderr: err } as unknown as DebugStdio;
  return { io, stdin, out: () => stdout, err: () => stderr };
}

async function server(t: { teardown(fn: () => unknown): void }, pods: AdminPods) {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-admin-debug-'));
  const path = join(dir, 'vmpod-admin.sock');
  const s = await listenAdmin(path, pods, silentLogger);
  t.teardown(async () => {
    await s.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { s, path };
}

t.test('a session between the real server and client: bytes both ways, the exit code, nothing left', async (t) => {
  const proc = fakeProcess();
  const pods: AdminPods = { answer: async () => ({ pods: [] }), openDebug: async () => ({ pod: A, io: proc.io }) };
  const { s, path } = await server(t, pods);
  const local = stdio();
  const messages: string[] = [];
  const session = debugSession(path, { cmd: 'debug', pod: 'a', argv: ['sh'], tty: true, rows: 0, cols: 0, term: '' }, local.io, (m) => messages.push(m));
  local.stdin.write('hello ');
  // Once output flows, the session is streaming: a resize now is sent.
  await new Promise<void>((r) => (local.io.stdout as unknown as PassThrough).once('data', () => r()));
  (local.io.stdout as unknown as PassThrough).emit('resize');
  local.stdin.end('world');
  t.equal(await session, 7, "the CLI's exit code is the process's");
  t.equal(local.out(), 'HELLO WORLD', 'stdin reached the process, its stdout came back');
  t.equal(local.err(), 'bye\n', 'stderr apart');
  t.same(proc.sizes, [{ width: 120, height: 40 }], 'a local resize reached the process');
  t.same(messages, [], 'nothing said besides');
  // The daemon sees the connection close just after the client has its exit code.
  for (let i = 0; i < 500 && (proc.state.closed === 0 || s.connections > 0); i++) await new Promise((r) => setTimeout(r, 10));
  t.equal(proc.state.closed, 1, 'the session was closed once');
  t.equal(s.connections, 0, 'no admin connection left');
});

t.test('a refusal is one line: exit 1 with the reason; no process', async (t) => {
  const pods: AdminPods = {
    answer: async () => ({ pods: [] }),
    openDebug: async () => Promise.reject(new FailedPreconditionError(`vmpod debug is off on this node: set ${GUEST_SHELL_KEY} = true`)),
  };
  const { path } = await server(t, pods);
  const local = stdio();
  const messages: string[] = [];
  t.equal(await debugSession(path, { cmd: 'debug', pod: 'a', argv: ['sh'], tty: false, rows: 0, cols: 0, term: '' }, local.io, (m) => messages.push(m)), 1, 'exit 1');
  t.match(messages, [/\[debug\] guest_shell = true.*FAILED_PRECONDITION/], "the daemon's reason, with its code");
  const gone = stdio();
  const none: string[] = [];
  t.equal(await debugSession(join(path, '..', 'nothing.sock'), { cmd: 'debug', pod: 'a', argv: ['sh'], tty: false, rows: 0, cols: 0, term: '' }, gone.io, (m) => none.push(m)), 1);
  t.match(none, [/no vmpod daemon answers/], 'a missing daemon is said in words');
});

t.test('a client that goes away mid-stream: the process is closed, no connection left', async (t) => {
  // The process would run on after its stdin's end: only the connection's end may stop it.
  const proc = fakeProcess(false);
  let opened!: () => void;
  const wasOpened = new Promise<void>((r) => (opened = r));
  const pods: AdminPods = { answer: async () => ({ pods: [] }), openDebug: async () => (opened(), { pod: A, io: proc.io }) };
  const { s, path } = await server(t, pods);
  const sock = connect(path);
  sock.write(encodeRequest({ cmd: 'debug', pod: 'a', argv: ['sh'], tty: false, rows: 0, cols: 0, term: '' }));
  await wasOpened;
  const first = await new Promise<string>((r) => sock.once('data', (b: Buffer) => r(b.toString())));
  t.match(first, /^\{"ok":true,"result":\{"debug":\{"pod":"a+"\}\}\}\n/, 'the ok line, then the stream');
  sock.write(encodeFrame(CHANNEL.stdin, 'x'));
  sock.destroy();
  for (let i = 0; i < 500 && (proc.state.closed === 0 || s.connections > 0); i++) await new Promise((r) => setTimeout(r, 10));
  t.equal(proc.state.closed, 1, 'the process was closed (the controller kills it in the guest)');
  t.equal(s.connections, 0, 'no admin connection left');
});
