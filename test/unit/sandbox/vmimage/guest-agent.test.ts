// The qemu-guest-agent client and exec through it, against a stand-in agent
// on a real unix socket (QEMU's side of the port is the layer below; the
// stand-in speaks QGA's wire format: 0xFF-delimited guest-sync, one JSON
// object per line). Covers the sync through stale data, exec output and exit
// codes, timeouts, hostile answers (too long, not JSON, wrong shape), error
// answers, an agent that never answers, and streaming exec.

import t, { type Test } from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { EXEC_OUTPUT_CAP } from '../../../../src/sandbox/controller';
import { GuestAgent, QGA_PORT_NAME, QgaLineReader, parseAnswer, type GuestAgentOptions } from '../../../../src/sandbox/vmimage/guest-agent';
import { QGA_TRUNCATED_MARKER, decodeBase64, execOutput, guestExec, guestExecSync, parseExecStatus } from '../../../../src/sandbox/vmimage/guest-exec';
import { silentLogger } from '../../../../src/log';
import { trackTimeouts } from '../../../helpers/timer-census';

const log = silentLogger;

interface Req {
  execute: string;
  arguments?: Record<string, unknown>;
}
type Answer = string | Buffer | undefined | Promise<string | Buffer | undefined>;

/** A stand-in qemu-guest-agent: answers guest-sync-delimited itself, everything else through `handle`. */
class FakeQga {
  readonly path: string;
  readonly requests: Req[] = [];
  readonly conns: Socket[] = [];
  /** Requests that came while an earlier one on the same connection was unanswered. */
  overlapped = 0;
  closedConns = 0;
  /** Bytes sent on connect, before the client's sync (stale data in the port). */
  greeting: Buffer = Buffer.alloc(0);
  answerSync = true;
  handle: (r: Req) => Answer = () => ok({});
  private readonly server: Server;

  constructor(dir: string) {
    this.path = join(dir, 'qga.sock');
    this.server = createServer((s) => this.serve(s));
  }

  listen(): Promise<void> {
    return new Promise((r) => this.server.listen(this.path, r));
  }

  private serve(s: Socket): void {
    this.conns.push(s);
    s.on('close', () => this.closedConns++);
    s.on('error', () => undefined);
    if (this.greeting.length > 0) s.write(this.greeting);
    let buf = '';
    let inFlight = 0;
    s.on('data', (b: Buffer) => {
      // 0xFF resets the agent's parser (the client sends one first).
      const text = b.toString('latin1');
      const cut = text.lastIndexOf('\xff');
      buf = cut >= 0 ? text.slice(cut + 1) : buf + text;
      for (let nl = buf.indexOf('\n'); nl !== -1; nl = buf.indexOf('\n')) {
        const r = JSON.parse(buf.slice(0, nl)) as Req;
        buf = buf.slice(nl + 1);
        if (r.execute === 'guest-sync-delimited') {
          if (this.answerSync) s.write(Buffer.concat([Buffer.from([0xff]), Buffer.from(JSON.stringify({ return: r.arguments?.id }) + '\n')]));
          continue;
        }
        this.requests.push(r);
        if (inFlight > 0) this.overlapped++;
        inFlight++;
        void Promise.resolve(this.handle(r)).then((a) => {
          inFlight--;
          if (a !== undefined && !s.destroyed) s.write(a);
        });
      }
    });
  }

  close(): Promise<void> {
    for (const c of this.conns) c.destroy();
    return new Promise((r) => this.server.close(() => r()));
  }

  get execs(): Req[] {
    return this.requests.filter((r) => r.execute === 'guest-exec');
  }
}

function ok(v: unknown): string {
  return JSON.stringify({ return: v }) + '\n';
}
function b64(s: string | Buffer): string {
  return Buffer.from(s).toString('base64');
}

/** A guest that runs each exec as `script` says: statuses returned in turn for its pid (the last one repeated). */
function scripted(q: FakeQga, statuses: Array<Record<string, unknown>>): void {
  let pid = 100;
  const seen = new Map<number, number>();
  q.handle = (r) => {
    if (r.execute === 'guest-exec') return ok({ pid: ++pid });
    if (r.execute === 'guest-exec-status') {
      const p = r.arguments?.pid as number;
      const n = seen.get(p) ?? 0;
      seen.set(p, n + 1);
      return ok(statuses[Math.min(n, statuses.length - 1)]);
    }
    return ok({});
  };
}

async function setup(t: Test): Promise<{ q: FakeQga; agent: (o?: Partial<GuestAgentOptions>) => GuestAgent }> {
  const dir = mkdtempSync(join(tmpdir(), 'qga-'));
  const q = new FakeQga(dir);
  await q.listen();
  const agents: GuestAgent[] = [];
  t.teardown(async () => {
    agents.forEach((a) => a.close());
    await q.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    q,
    agent: (o = {}) => {
      const a = new GuestAgent({ socketPath: q.path, log, name: 'container c1', syncMs: 1000, ...o });
      agents.push(a);
      return a;
    },
  };
}

async function readAll(r: NodeJS.ReadableStream | undefined): Promise<string> {
  let s = '';
  for await (const b of (r as Readable | undefined) ?? []) s += (b as Buffer).toString();
  return s;
}

t.test('QgaLineReader: lines, sentinels, the cap', async (t) => {
  const r = new QgaLineReader(8);
  t.same(
    r.push(Buffer.from('ab')).map((f) => f.kind),
    [],
    'a partial line is held',
  );
  const f = r.push(Buffer.from('c\nxy\xffde\n', 'latin1'));
  t.same(
    f.map((x) => (x.kind === 'line' ? x.text.toString() : '<FF>')),
    ['abc', '<FF>', 'de'],
    'a sentinel drops the partial line before it',
  );
  t.throws(() => r.push(Buffer.from('123456789')), { code: 'UNAVAILABLE', message: /longer than 8 bytes/ }, 'a line over the cap throws');
});

t.test('parseAnswer and parseExecStatus refuse what is not QGA', async (t) => {
  const bad = [
    { desc: 'not JSON', line: '{"return":' },
    { desc: 'neither return nor error', line: '{"foo":1}' },
    { desc: 'both return and error', line: '{"return":1,"error":{"class":"a","desc":"b"}}' },
    { desc: 'error without desc', line: '{"error":{"class":"a"}}' },
    { desc: 'an array', line: '[1]' },
  ];
  for (const c of bad) t.throws(() => parseAnswer('guest-exec', Buffer.from(c.line)), { code: 'UNAVAILABLE' }, c.desc);
  const e = parseAnswer('guest-exec', Buffer.from('{"error":{"class":"GenericError","desc":"no such file"}}'));
  t.equal(e.ok, false, 'an error answer is an error');
  const statuses = [
    { desc: 'exited not boolean', v: { exited: 'yes' } },
    { desc: 'exitcode a string', v: { exited: true, exitcode: '1' } },
    { desc: 'exitcode fractional', v: { exited: true, exitcode: 1.5 } },
    { desc: 'signal out of range', v: { exited: true, signal: 9999 } },
    { desc: 'out-data not base64', v: { exited: true, exitcode: 0, 'out-data': 'a$b=' } },
    { desc: 'err-data a number', v: { exited: true, exitcode: 0, 'err-data': 5 } },
    { desc: 'out-truncated a string', v: { exited: true, exitcode: 0, 'out-truncated': 'true' } },
    { desc: 'exited with neither code nor signal', v: { exited: true } },
    { desc: 'not an object', v: 'x' },
  ];
  for (const c of statuses) t.throws(() => parseExecStatus(c.v), { code: 'UNAVAILABLE' }, c.desc);
  t.same(decodeBase64('aGk=', 'x'), Buffer.from('hi'), 'base64 decodes');
});

t.test('sync: stale data and an earlier client answer before ours are dropped', async (t) => {
  const { q, agent } = await setup(t);
  // What an earlier client left in the port: half an answer, a whole one, an earlier sync's sentinel and answer.
  q.greeting = Buffer.concat([Buffer.from('{"return": {"pid": 7'), Buffer.from('}}\n{"return": 5}\n'), Buffer.from([0xff]), Buffer.from('{"return": 123}\n')]);
  scripted(q, [{ exited: true, exitcode: 0, 'out-data': b64('hello\n') }]);
  const r = await guestExecSync(agent(), ['echo', 'hello'], 10, log);
  t.equal(r.stdout.toString(), 'hello\n', 'the exec ran after the sync, its output decoded');
  t.same(q.execs[0].arguments, { path: 'echo', arg: ['hello'], 'capture-output': true }, 'cmd[0] is the path (QGA searches PATH), the rest the args');
});

t.test('exec: output, exit codes, signals, polling until exited', async (t) => {
  const { q, agent } = await setup(t);
  const a = agent();
  const cases = [
    { desc: 'exit 0 with both streams', st: { exited: true, exitcode: 0, 'out-data': b64('out'), 'err-data': b64('err') }, code: 0, out: 'out', err: 'err' },
    { desc: 'non-zero exit', st: { exited: true, exitcode: 3 }, code: 3, out: '', err: '' },
    { desc: 'killed by a signal: 128 + signal', st: { exited: true, signal: 9 }, code: 137, out: '', err: '' },
  ];
  for (const c of cases) {
    scripted(q, [{ exited: false }, { exited: false }, c.st]);
    const r = await guestExecSync(a, ['sh', '-c', 'x'], 0, log);
    t.same([r.exitCode, r.stdout.toString(), r.stderr.toString()], [c.code, c.out, c.err], c.desc);
  }
  t.equal(q.conns.length, 1, 'a shared GuestAgent keeps one connection');
});

t.test('exec by socket path: a connection of its own, closed after', async (t) => {
  const { q } = await setup(t);
  scripted(q, [{ exited: true, exitcode: 0 }]);
  const r = await guestExecSync(q.path, ['true'], 5, log);
  t.equal(r.exitCode, 0);
  await new Promise((r) => setTimeout(r, 50));
  t.equal(q.closedConns, 1, 'the connection was closed');
});

t.test('output QGA cut is marked; the pair fits one answer', async (t) => {
  const o = execOutput({ exited: true, exitCode: 0, out: Buffer.from('abc'), err: Buffer.alloc(0), outTruncated: true, errTruncated: false });
  t.equal(o.stdout.toString(), 'abc' + QGA_TRUNCATED_MARKER, 'a stream QGA cut ends with the marker');
  const big = Buffer.alloc(EXEC_OUTPUT_CAP, 0x61);
  const b = execOutput({ exited: true, exitCode: 0, out: big, err: big, outTruncated: true, errTruncated: true });
  t.ok(b.stdout.length + b.stderr.length <= EXEC_OUTPUT_CAP, 'both full streams together fit the gRPC cap');
  t.ok(b.stdout.toString('latin1').endsWith(QGA_TRUNCATED_MARKER), 'still marked');
});

t.test('timeout: DEADLINE_EXCEEDED naming the command, and a best-effort kill', async (t) => {
  const { q, agent } = await setup(t);
  let killed = false;
  q.handle = (r) => {
    if (r.execute === 'guest-exec') {
      const arg = (r.arguments?.arg as string[]) ?? [];
      if (r.arguments?.path === '/bin/sh' && arg[1] === 'kill -KILL 42') {
        killed = true;
        return ok({ pid: 43 });
      }
      return ok({ pid: 42 });
    }
    const pid = r.arguments?.pid;
    if (pid === 43) return ok({ exited: true, exitcode: 0 });
    return ok(killed ? { exited: true, signal: 9 } : { exited: false });
  };
  const started = Date.now();
  await t.rejects(guestExecSync(agent(), ['sleep', '1000'], 1, log), {
    code: 'DEADLINE_EXCEEDED',
    message: /exec of \["sleep","1000"\] in container c1 did not finish within 1 s; vmpod killed it \(kill -KILL 42/,
  });
  t.ok(Date.now() - started < 4000, 'the error comes soon after the deadline');
  t.ok(killed, 'the guest was asked to kill the process');
});

t.test('an agent that never answers the sync: FAILED_PRECONDITION saying the image needs qemu-guest-agent', async (t) => {
  const { q, agent } = await setup(t);
  q.answerSync = false;
  const started = Date.now();
  await t.rejects(guestExecSync(agent({ syncMs: 300 }), ['true'], 0, log), {
    code: 'FAILED_PRECONDITION',
    message: new RegExp(`container c1: the guest does not answer on its qemu-guest-agent port \\(${QGA_PORT_NAME.replace(/\./g, '\\.')}\\).*must run qemu-guest-agent`),
  });
  t.ok(Date.now() - started < 2000, 'within the sync timeout');
  await new Promise((r) => setTimeout(r, 50));
  t.equal(q.closedConns, 1, 'the connection was closed');
});

t.test('no socket: FAILED_PRECONDITION', async (t) => {
  await t.rejects(guestExecSync(join(tmpdir(), 'no-such-qga.sock'), ['true'], 0, log), { code: 'FAILED_PRECONDITION', message: /cannot connect to the qemu-guest-agent socket .*ENOENT/ });
});

t.test('hostile answers close the connection; the next call syncs on a new one', async (t) => {
  const cases: Array<{ desc: string; answer: () => Answer; code: string; message: RegExp }> = [
    { desc: 'a line over the cap', answer: () => '{"return":"' + 'x'.repeat(4096), code: 'UNAVAILABLE', message: /line longer than 1024 bytes/ },
    { desc: 'malformed JSON', answer: () => '{"return": nope}\n', code: 'UNAVAILABLE', message: /not JSON/ },
    { desc: 'a wrong shape', answer: () => ok({ pid: 'seven' }), code: 'UNAVAILABLE', message: /malformed answer/ },
    { desc: 'an unasked sentinel', answer: () => Buffer.from([0xff]), code: 'UNAVAILABLE', message: /sentinel nobody asked for/ },
    { desc: 'no answer at all', answer: () => undefined, code: 'DEADLINE_EXCEEDED', message: /guest-exec: no answer for 200 ms/ },
  ];
  for (const c of cases) {
    const { q, agent } = await setup(t);
    const a = agent({ maxLineBytes: 1024, callIdleMs: 200 });
    q.handle = () => c.answer();
    await t.rejects(guestExecSync(a, ['true'], 0, log), { code: c.code, message: c.message }, c.desc);
    await new Promise((r) => setTimeout(r, 30));
    t.equal(q.closedConns, 1, `${c.desc}: the connection was closed`);
    scripted(q, [{ exited: true, exitcode: 0 }]);
    t.equal((await guestExecSync(a, ['true'], 0, log)).exitCode, 0, `${c.desc}: the next exec works on a new connection`);
    t.equal(q.conns.length, 2, `${c.desc}: connected again`);
  }
});

t.test('error answers: the agent refusing to run the command, or guest-exec disabled', async (t) => {
  const { q, agent } = await setup(t);
  const a = agent();
  q.handle = () => JSON.stringify({ error: { class: 'GenericError', desc: "Guest agent command failed, error was 'Failed to execute child process “nope” (No such file or directory)'" } }) + '\n';
  await t.rejects(guestExecSync(a, ['nope'], 0, log), { code: 'FAILED_PRECONDITION', message: /cannot run \["nope"\] in the guest: .*No such file/ });
  q.handle = () => JSON.stringify({ error: { class: 'CommandDisabled', desc: 'The command guest-exec has been disabled for this instance' } }) + '\n';
  await t.rejects(guestExecSync(a, ['ls'], 0, log), { code: 'FAILED_PRECONDITION', message: /does not allow guest-exec/ });
  t.equal(q.conns.length, 1, 'an error answer is an answer: the connection stays');
  t.same(await guestExecSync(a, [], 0, log).catch((e: Error & { code?: string }) => e.code), 'INVALID_ARGUMENT', 'an empty command is refused');
});

t.test('concurrent execs on one agent: one command in flight at a time', async (t) => {
  const { q, agent } = await setup(t);
  let pid = 0;
  q.handle = async (r) => {
    await new Promise((res) => setTimeout(res, 5));
    if (r.execute === 'guest-exec') return ok({ pid: ++pid });
    return ok({ exited: true, exitcode: r.arguments?.pid as number, 'out-data': b64(`p${String(r.arguments?.pid)}`) });
  };
  const a = agent();
  const rs = await Promise.all([1, 2, 3, 4].map(() => guestExecSync(a, ['x'], 5, log)));
  t.same(
    rs.map((r) => [r.exitCode, r.stdout.toString()]).sort(),
    [1, 2, 3, 4].map((p) => [p, `p${p}`]),
    'each exec got its own answers',
  );
  t.equal(q.overlapped, 0, 'never two commands in flight on the connection');
  t.equal(q.conns.length, 1, 'one connection');
});

t.test('streaming exec: stdin read to EOF goes as input-data, output and exit code after', async (t) => {
  const { q, agent } = await setup(t);
  scripted(q, [{ exited: false }, { exited: true, exitcode: 5, 'out-data': b64('OUT'), 'err-data': b64('ERR') }]);
  const io = await guestExec(agent(), ['cat'], { stdin: true, stdout: true, stderr: true, tty: false }, log);
  io.stdin!.write('hello ');
  io.stdin!.end('world');
  const [out, err, done] = await Promise.all([readAll(io.stdout), readAll(io.stderr), io.done]);
  t.same([out, err, done.exitCode], ['OUT', 'ERR', 5]);
  t.equal(Buffer.from(q.execs[0].arguments?.['input-data'] as string, 'base64').toString(), 'hello world', 'stdin went whole');
  await t.rejects(io.resize({ width: 80, height: 24 }), { code: 'FAILED_PRECONDITION' }, 'no terminal to resize');
  io.close();
});

t.test('streaming exec: a tty is refused, saying where a terminal is', async (t) => {
  const { agent } = await setup(t);
  await t.rejects(guestExec(agent(), ['sh'], { stdin: true, stdout: true, stderr: false, tty: true }, log), { code: 'FAILED_PRECONDITION', message: /qemu-guest-agent.*crictl attach -it/ });
});

t.test('streaming exec: no agent fails at start', async (t) => {
  const { q, agent } = await setup(t);
  q.answerSync = false;
  await t.rejects(guestExec(agent({ syncMs: 200 }), ['ls'], { stdin: false, stdout: true, stderr: true, tty: false }, log), { code: 'FAILED_PRECONDITION', message: /qemu-guest-agent port/ });
});

t.test('streaming exec: the client going away kills the process (best effort)', async (t) => {
  const { q, agent } = await setup(t);
  let killed = false;
  q.handle = (r) => {
    if (r.execute === 'guest-exec') {
      if (r.arguments?.path === '/bin/sh') {
        killed = true;
        return ok({ pid: 8 });
      }
      return ok({ pid: 7 });
    }
    return ok(killed ? { exited: true, signal: 9 } : { exited: false });
  };
  const io = await guestExec(agent(), ['sleep', '100'], { stdin: false, stdout: true, stderr: false, tty: false }, log);
  while (q.requests.filter((r) => r.execute === 'guest-exec-status').length < 2) await new Promise((r) => setTimeout(r, 20));
  io.close();
  await t.rejects(io.done, { code: 'UNAVAILABLE', message: /session was closed/ });
  for (let i = 0; i < 50 && !killed; i++) await new Promise((r) => setTimeout(r, 20));
  t.ok(killed, 'kill -KILL sent through guest-exec');
  t.same(q.execs[1].arguments?.arg, ['-c', 'kill -KILL 7'], 'for that pid');
});

t.test('streaming exec: stdin over the cap ends the session', async (t) => {
  const { agent } = await setup(t);
  const io = await guestExec(agent(), ['cat'], { stdin: true, stdout: true, stderr: false, tty: false }, log);
  const chunk = Buffer.alloc(1 << 20);
  for (let i = 0; i < 17; i++) io.stdin!.write(chunk);
  await t.rejects(io.done, { code: 'RESOURCE_EXHAUSTED', message: /stdin is over/ });
});

t.test('close() while the sync is pending ends it at once and leaves no timer', async (t) => {
  const census = trackTimeouts(/guest-agent|guest-exec/);
  t.teardown(() => census.restore());
  const { q, agent } = await setup(t);
  q.answerSync = false;
  const a = agent({ syncMs: 60_000 });
  const started = Date.now();
  const call = guestExecSync(a, ['true'], 0, log);
  while (q.conns.length === 0) await new Promise((r) => setTimeout(r, 10));
  t.ok(census.live() > 0, 'the sync deadline is pending');
  a.close();
  await t.rejects(call, { code: 'UNAVAILABLE', message: /client was closed/ });
  t.ok(Date.now() - started < 2000, 'at once, not at the sync deadline');
  t.equal(census.live(), 0, 'no timer left');
  await new Promise((r) => setTimeout(r, 30));
  t.equal(q.closedConns, 1, 'the connection closed');
});
