import t from 'tap';
import { createServer, type Server, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QmpClient, QmpCommandError, type QmpEvent } from '../../../../src/hypervisor/qemu/qmp';
import { DeadlineExceededError, UnavailableError } from '../../../../common/errors';

const GREETING = JSON.stringify({ QMP: { version: { qemu: { major: 7, minor: 2, micro: 22 }, package: '' }, capabilities: [] } });

type Reply = (msg: { execute: string; id?: unknown; arguments?: unknown }, sock: Socket) => void;

/** A fake QMP server: greeting, then `reply` for every command after qmp_capabilities. */
async function fakeQmp(t: { teardown(fn: () => void): void }, reply: Reply, greeting: string | null = GREETING): Promise<{ path: string; server: Server; sockets: Socket[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-qmp-test-'));
  const path = join(dir, 'qmp.sock');
  const sockets: Socket[] = [];
  const server = createServer((sock) => {
    sockets.push(sock);
    if (greeting !== null) sock.write(greeting + '\n');
    let buf = '';
    sock.on('data', (d) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const msg = JSON.parse(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
        if (msg.execute === 'qmp_capabilities') sock.write(JSON.stringify({ return: {}, id: msg.id }) + '\n');
        else reply(msg, sock);
      }
    });
    sock.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(path, r));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { path, server, sockets };
}

t.test('handshake, query-status, version', async (t) => {
  const { path } = await fakeQmp(t, (m, s) => {
    if (m.execute === 'query-status') s.write(JSON.stringify({ return: { running: false, singlestep: false, status: 'prelaunch' }, id: m.id }) + '\n');
  });
  const c = await QmpClient.connect(path);
  t.teardown(() => c.close());
  t.equal(c.qemuVersion, '7.2.22');
  t.same(await c.queryStatus(), { running: false, status: 'prelaunch' });
});

t.test('command error becomes QmpCommandError with class', async (t) => {
  const { path } = await fakeQmp(t, (m, s) => s.write(JSON.stringify({ error: { class: 'CommandNotFound', desc: 'nope' }, id: m.id }) + '\n'));
  const c = await QmpClient.connect(path);
  t.teardown(() => c.close());
  const err = await c.execute('bogus').catch((e: unknown) => e);
  t.ok(err instanceof QmpCommandError);
  t.equal((err as QmpCommandError).errorClass, 'CommandNotFound');
});

t.test('per-command timeout', async (t) => {
  const { path } = await fakeQmp(t, () => undefined);
  const c = await QmpClient.connect(path);
  t.teardown(() => c.close());
  const err = await c.execute('query-status', undefined, 100).catch((e: unknown) => e);
  t.ok(err instanceof DeadlineExceededError);
});

t.test('no greeting times out', async (t) => {
  const { path } = await fakeQmp(t, () => undefined, null);
  const err = await QmpClient.connect(path, { commandTimeoutMs: 150 }).catch((e: unknown) => e);
  t.ok(err instanceof DeadlineExceededError);
});

t.test('missing socket is UnavailableError', async (t) => {
  const err = await QmpClient.connect('/nonexistent/vmpod-qmp.sock').catch((e: unknown) => e);
  t.ok(err instanceof UnavailableError);
});

t.test('events are emitted with data and timestamp; replies split across chunks', async (t) => {
  const { path } = await fakeQmp(t, (m, s) => {
    const ev = JSON.stringify({ event: 'SHUTDOWN', data: { guest: false, reason: 'host-qmp-quit' }, timestamp: { seconds: 10, microseconds: 500000 } });
    const rep = JSON.stringify({ return: {}, id: m.id });
    const all = ev + '\n' + rep + '\n';
    s.write(all.slice(0, 7));
    setTimeout(() => s.write(all.slice(7)), 20);
  });
  const c = await QmpClient.connect(path);
  t.teardown(() => c.close());
  const events: QmpEvent[] = [];
  c.on('event', (e: QmpEvent) => events.push(e));
  await c.execute('quit');
  t.same(events, [{ event: 'SHUTDOWN', data: { guest: false, reason: 'host-qmp-quit' }, timestamp: 10.5 }]);
});

const hostile: Array<{ desc: string; lines: string[] }> = [
  { desc: 'garbage text', lines: ['this is not json'] },
  { desc: 'json array and scalar', lines: ['[1,2,3]', '42', 'null'] },
  { desc: 'reply to an unknown id', lines: [JSON.stringify({ return: {}, id: 'nope' })] },
  { desc: 'reply with a non-string id', lines: [JSON.stringify({ return: {}, id: { x: 1 } })] },
  { desc: 'event with junk fields', lines: [JSON.stringify({ event: 'RESET', data: 'str', timestamp: 'x' })] },
  { desc: 'invalid utf-8 bytes and NULs', lines: ['\u0000\uffff{"ev'] },
];
for (const h of hostile) {
  t.test(`hostile input never throws: ${h.desc}`, async (t) => {
    const { path } = await fakeQmp(t, (m, s) => {
      for (const l of h.lines) s.write(l + '\n');
      s.write(JSON.stringify({ return: { ok: true }, id: m.id }) + '\n');
    });
    const c = await QmpClient.connect(path);
    t.teardown(() => c.close());
    t.same(await c.execute('anything'), { ok: true }, 'the real reply still arrives');
  });
}

t.test('a listener that throws does not break the client', async (t) => {
  const { path } = await fakeQmp(t, (m, s) => {
    s.write(JSON.stringify({ event: 'STOP', data: {} }) + '\n');
    s.write(JSON.stringify({ return: 1, id: m.id }) + '\n');
  });
  const c = await QmpClient.connect(path);
  t.teardown(() => c.close());
  c.on('event', () => {
    throw new Error('listener bug');
  });
  t.equal(await c.execute('x'), 1);
});

t.test('an over-long line closes the connection and fails pending commands', async (t) => {
  const { path } = await fakeQmp(t, (_m, s) => s.write('x'.repeat(5000)));
  const c = await QmpClient.connect(path, { maxLineBytes: 1024 });
  const closed = new Promise((r) => c.once('close', r));
  const err = await c.execute('x').catch((e: unknown) => e);
  t.ok(err instanceof UnavailableError);
  await closed;
  t.ok(c.isClosed);
});

t.test('quit treats the server closing the socket as success', async (t) => {
  const { path } = await fakeQmp(t, (_m, s) => s.destroy());
  const c = await QmpClient.connect(path);
  await c.quit();
  t.ok(true, 'quit resolved');
  const err = await c.execute('query-status').catch((e: unknown) => e);
  t.ok(err instanceof UnavailableError, 'later commands fail as unavailable');
});
