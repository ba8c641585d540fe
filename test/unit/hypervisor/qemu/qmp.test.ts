import t from 'tap';
import { closeSync, fstatSync, openSync } from 'node:fs';
import { QmpClient, QmpCommandError, type QmpEvent } from '../../../../src/hypervisor/qemu/qmp';
import { DeadlineExceededError, UnavailableError } from '../../../../common/errors';
import { answer, event, fakeQmp } from './fake-qmp';

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

t.test('an error reply whose class or description is missing or not a string is a GenericError', async (t) => {
  const cases: { desc: string; error: Record<string, unknown> }[] = [
    { desc: 'empty error object', error: {} },
    { desc: 'class and desc of the wrong type', error: { class: 42, desc: { text: 'nope' } } },
  ];
  for (const c of cases) {
    const { path } = await fakeQmp(t, (m, s) => s.write(JSON.stringify({ error: c.error, id: m.id }) + '\n'));
    const client = await QmpClient.connect(path);
    t.teardown(() => client.close());
    const err = await client.execute('bogus').catch((e: unknown) => e);
    t.match(err, { constructor: QmpCommandError, errorClass: 'GenericError', message: 'QMP bogus failed: GenericError: ' }, c.desc);
  }
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

t.test('waitForEvent: the first matching event, subscribed before the command that causes it', async (t) => {
  const { path } = await fakeQmp(t, (m, s) => {
    event(s, 'DEVICE_DELETED', { path: '/machine/peripheral/nic1/virtio-backend' });
    event(s, 'DEVICE_DELETED', { device: 'nic1', path: '/machine/peripheral/nic1' });
    answer(s, m);
  });
  const c = await QmpClient.connect(path);
  t.teardown(() => c.close());
  const w = c.waitForEvent((e) => e.event === 'DEVICE_DELETED' && e.data.device === 'nic1', 1000);
  await c.execute('device_del', { id: 'nic1' });
  t.same((await w.event).data, { device: 'nic1', path: '/machine/peripheral/nic1' }, "the backend's event (no device id) does not match");
  t.equal(c.listenerCount('event'), 0, 'the subscription is gone once matched');
});

t.test('waitForEvent: times out with DeadlineExceededError, or fails with UnavailableError when the connection closes', async (t) => {
  const { path, sockets } = await fakeQmp(t, (m, s) => answer(s, m));
  const c = await QmpClient.connect(path);
  const late = await c.waitForEvent(() => true, 30, 'DEVICE_DELETED for x').event.catch((e: unknown) => e);
  t.ok(late instanceof DeadlineExceededError, 'deadline');
  t.match((late as Error).message, /no DEVICE_DELETED for x within 30 ms/);
  const w = c.waitForEvent(() => true, 5000);
  sockets[0].destroy();
  t.ok((await w.event.catch((e: unknown) => e)) instanceof UnavailableError, 'closed');
  const cancelled = c.waitForEvent(() => true, 5000);
  cancelled.cancel();
  t.equal(c.listenerCount('close'), 0, 'cancel unsubscribes');
});

t.test('executeWithFd: the command goes out, the reply comes back, and our copy of the fd is closed', async (t) => {
  const seen: unknown[] = [];
  const { path, dir } = await fakeQmp(t, (m, s) => {
    seen.push(m.arguments);
    answer(s, m);
  });
  const c = await QmpClient.connect(path);
  t.teardown(() => c.close());
  const fd = openSync(`${dir}/marker`, 'w');
  await c.executeWithFd('getfd', { fdname: 'x' }, fd);
  t.same(seen, [{ fdname: 'x' }]);
  t.throws(() => fstatSync(fd), /EBADF/, "the descriptor is QEMU's now, ours is closed");
});

t.test('executeWithFd on a closed connection fails and still closes the fd', async (t) => {
  const { path, dir } = await fakeQmp(t, (m, s) => answer(s, m));
  const c = await QmpClient.connect(path);
  c.close();
  await new Promise((r) => setImmediate(r));
  const fd = openSync(`${dir}/marker`, 'w');
  const err = await c.executeWithFd('getfd', { fdname: 'x' }, fd).catch((e: unknown) => e);
  t.ok(err instanceof UnavailableError);
  t.throws(() => fstatSync(fd), /EBADF/, 'closed anyway: the caller handed it over');
  t.doesNotThrow(() => closeSync(openSync(`${dir}/marker`, 'r')), 'the file itself is untouched');
});

t.test('ringbufRead: base64 both ways, never more than asked, a reply that is not a string refused', async (t) => {
  const replies: unknown[] = [Buffer.from([0, 0xff, 10]).toString('base64'), Buffer.alloc(100, 'a').toString('base64'), { not: 'a string' }];
  const asked: unknown[] = [];
  const { path } = await fakeQmp(t, (m, s) => {
    asked.push(m.arguments);
    answer(s, m, replies.shift());
  });
  const c = await QmpClient.connect(path);
  t.teardown(() => c.close());
  t.same(await c.ringbufRead('console', 16), Buffer.from([0, 0xff, 10]), 'bytes as the guest wrote them');
  t.same(asked[0], { device: 'console', size: 16, format: 'base64' });
  t.equal((await c.ringbufRead('console', 16)).length, 16, 'a longer reply is cut to the size asked');
  await t.rejects(c.ringbufRead('console', 16), /malformed/);
});
