// The admin socket's read-only view of the pods (src/admin/pods-view.ts) and
// its server (src/admin/server.ts), with fake records and fake controllers:
// each command reaches the controller method it needs and nothing else; a
// controller without a method gives a clear refusal; the socket is 0600
// from the start, answers one request per connection, refuses an overlong
// line, and leaves no connection or file after close().

import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { NotFoundError } from '../../../common/errors';
import { adminCall } from '../../../src/admin/client';
import { PodsView } from '../../../src/admin/pods-view';
import { MAX_REQUEST_BYTES } from '../../../src/admin/protocol';
import { answerLine, listenAdmin } from '../../../src/admin/server';
import { silentLogger } from '../../../src/log';
import type { SandboxController } from '../../../src/sandbox/controller';
import type { SandboxRecord } from '../../../src/store/sandbox';
import { readyPodRecord } from './records';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);

const rec = readyPodRecord;

function store(records: SandboxRecord[]) {
  return {
    list: () => records,
    resolve: (ref: string) => {
      const m = records.filter((r) => r.id.startsWith(ref));
      if (m.length !== 1) throw new NotFoundError('pod sandbox', ref);
      return m[0];
    },
  };
}

const calls: string[] = [];
const vmCtl = {
  handler: 'vm',
  debugInfo: async (sb: { id: string }, bytes: number) => {
    calls.push(`debugInfo ${sb.id[0]} ${bytes}`);
    return { isolation: 'QEMU VM', facts: { qemuPid: 42 }, consoleTail: 'x'.repeat(Math.min(bytes, 5)) };
  },
  agentLog: async (sb: { id: string }, since: number) => {
    calls.push(`agentLog ${sb.id[0]} ${since}`);
    return { lines: [{ seq: 0, timeUnixNano: '1', level: 'info', msg: 'hi' }], nextSeq: 1, dropped: 0 };
  },
} as unknown as SandboxController;
const bareCtl = { handler: 'bare' } as unknown as SandboxController;
const controllers = new Map([
  ['vm', vmCtl],
  ['bare', bareCtl],
]);

t.test('answers from records and controller methods', async (t) => {
  const view = new PodsView(store([rec(B, 'bare', '20'), rec(A, 'vm', '10'), rec('c'.repeat(64), 'vm', '30', { creating: true, controller: null })]), controllers);
  const pods = await view.answer({ cmd: 'pods' });
  t.same(
    'pods' in pods && pods.pods.map((p) => [p.id[0], p.state, p.handler, p.name]),
    [
      ['a', 'READY', 'vm', 'n-a'],
      ['b', 'READY', 'bare', 'n-b'],
      ['c', 'CREATING', 'vm', 'n-c'],
    ],
    'every pod, oldest first, a pod being created as CREATING',
  );
  t.same(calls, [], 'listing asks no controller');

  const vm = await view.answer({ cmd: 'vm', pod: 'aa' });
  t.match(vm, { vm: { id: A, handler: 'vm', state: 'READY', isolation: 'QEMU VM', facts: { qemuPid: 42 }, consoleTail: 'xxxxx' } });
  const con = await view.answer({ cmd: 'console', pod: 'a', bytes: 3 });
  t.same(con, { console: 'xxx', pod: A }, 'console: the tail the controller gave, at the size asked');
  const log = await view.answer({ cmd: 'agent-log', pod: 'a', sinceSeq: 7 });
  t.match(log, { pod: A, agentLog: { nextSeq: 1 } });
  t.same(calls, ['debugInfo a 2048', 'debugInfo a 3', 'agentLog a 7'], 'each command called the one method it needs');

  await t.rejects(view.answer({ cmd: 'vm', pod: 'b' }), /handler "bare" shows nothing/, 'a controller without debugInfo: refused in words');
  await t.rejects(view.answer({ cmd: 'console', pod: 'b', bytes: 10 }), /has no console/, 'nor a console');
  await t.rejects(view.answer({ cmd: 'agent-log', pod: 'b', sinceSeq: 0 }), /has no guest agent/, 'nor an agent log');
  await t.rejects(view.answer({ cmd: 'vm', pod: 'c' }), /still being created/, 'a pod being created is not read');
  await t.rejects(view.answer({ cmd: 'vm', pod: 'd' }), NotFoundError, 'an unknown pod is NOT_FOUND');
  const orphan = new PodsView(store([rec(A, 'gone', '1')]), controllers);
  await t.rejects(orphan.answer({ cmd: 'vm', pod: 'a' }), /no longer in \[runtime.handlers\]/);
});

t.test('answerLine: typed errors keep their code; anything else is INTERNAL', async (t) => {
  const view = new PodsView(store([rec(A, 'vm', '1')]), controllers);
  t.match(await answerLine(view, '{"v":1,"cmd":"nope"}'), { ok: false, error: { code: 'INVALID_ARGUMENT', message: /unknown command "nope"/ } });
  t.match(await answerLine(view, '{"v":1,"cmd":"vm","pod":"e"}'), { ok: false, error: { code: 'NOT_FOUND' } });
  const broken = { answer: async () => Promise.reject(new Error('boom')) };
  t.same(await answerLine(broken, '{"v":1,"cmd":"pods"}'), { ok: false, error: { code: 'INTERNAL', message: 'boom' } });
});

function rawLine(path: string, data: string, end: boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(path);
    let buf = '';
    s.setEncoding('utf8');
    s.on('connect', () => (end ? s.end(data) : s.write(data)));
    s.on('data', (d: string) => (buf += d));
    s.on('error', reject);
    s.on('close', () => resolve(buf));
  });
}

t.test('the server: 0600, one answer per connection, bounded lines, nothing left after close', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-admin-unit-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'vmpod-admin.sock');
  const umask = process.umask(0o022);
  const server = await listenAdmin(path, new PodsView(store([rec(A, 'vm', '1')]), controllers), silentLogger);
  t.teardown(() => server.close());
  t.equal((statSync(path).mode & 0o777).toString(8), '600', 'socket mode 0600');
  t.equal(statSync(path).uid, 0, 'owned by root');
  t.equal(process.umask(umask), 0o022, "the daemon's umask is restored after the bind");

  const res = await adminCall(path, { cmd: 'pods' });
  t.match(res, { ok: true, result: { pods: [{ id: A }] } }, 'the client gets its answer');
  const two = await rawLine(path, '{"v":1,"cmd":"pods"}\n{"v":1,"cmd":"pods"}\n', false);
  t.equal(two.split('\n').filter(Boolean).length, 1, 'one answer per connection, then it is closed');
  const noNewline = JSON.parse(await rawLine(path, '{"v":1,"cmd":"pods"}', true)) as { ok: boolean };
  t.equal(noNewline.ok, true, 'a request ended by EOF instead of a newline is answered');
  const long = JSON.parse(await rawLine(path, 'x'.repeat(MAX_REQUEST_BYTES + 100), false)) as { error: { message: string } };
  t.match(long.error.message, /longer than 4096 bytes/, 'an overlong line is refused without waiting for its end');

  await server.close();
  t.equal(server.connections, 0, 'no connection left');
  t.notOk(existsSync(path), 'the socket file is removed');
  await t.rejects(adminCall(path, { cmd: 'pods' }), /no vmpod daemon answers/, 'a client is told nobody answers');
});
