// Host-side tests of the vsock addon and wrapper. What this machine allows:
// module load, argument validation and the CID guard, AF_VSOCK socket()
// creation, and the stream machinery over an AF_UNIX socketpair (same native
// Handle and Duplex code). No AF_VSOCK connection is opened here except to
// CID 1 when vsock_loopback is loaded; the vsock paths proper are exercised in
// the guest by test/guest/vsock-selftest.ts.

import t, { Test } from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { once } from 'node:events';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { loadAddon, addonCandidates } from '../../../../common/native/addon';
import { checkConnectTarget, connect, createHandle, listen, socketPairForTest, VMADDR_CID_LOCAL, VMADDR_PORT_ANY, VsockError, VsockSocket } from '../../../../common/native/vsock';

t.test('the addon loads and exposes its surface', async (t) => {
  let addon;
  try {
    addon = loadAddon();
  } catch (err) {
    t.fail(`vsock.node missing: run scripts/build-native (${(err as Error).message})`);
    return;
  }
  for (const fn of ['socket', 'socketPair', 'localCid', 'mount', 'umount', 'powerOff'] as const) {
    t.equal(typeof addon[fn], 'function', `${fn} is a function`);
  }
  t.equal(addon.constants.VMADDR_CID_ANY, 0xffffffff);
  t.equal(addon.constants.VMADDR_CID_HOST, 2);
  t.equal(addon.constants.SHUT_WR, 1);
  t.equal(addon.constants.MNT_DETACH, 2);
  t.ok(addonCandidates({ VMPOD_VSOCK_ADDON: '/x/vsock.node' }, '/opt/vmpod/agent').slice(0, 2).join() === '/x/vsock.node,/opt/vmpod/agent/vsock.node', 'env override first, then beside the bundle');
});

const badTargets: Array<{ desc: string; cid: unknown; port: unknown; allowHost?: boolean; match: RegExp }> = [
  { desc: 'CID 2 (host) is refused by default', cid: 2, port: 1024, match: /host.*allowHostCid/ },
  { desc: 'CID 0 (hypervisor) is refused by default', cid: 0, port: 1024, match: /hypervisor.*allowHostCid/ },
  { desc: 'VMADDR_CID_ANY is not a target', cid: 0xffffffff, port: 1024, allowHost: true, match: /CID_ANY/ },
  { desc: 'negative CID', cid: -1, port: 1024, match: /cid must be an integer/ },
  { desc: 'fractional CID', cid: 3.5, port: 1024, match: /cid must be an integer/ },
  { desc: 'CID above 32 bits', cid: 2 ** 32, port: 1024, match: /cid must be an integer/ },
  { desc: 'string CID', cid: '3', port: 1024, match: /cid must be an integer/ },
  { desc: 'VMADDR_PORT_ANY is not a connect port', cid: 3, port: VMADDR_PORT_ANY, match: /port must be an integer/ },
  { desc: 'negative port', cid: 3, port: -5, match: /port must be an integer/ },
  { desc: 'NaN port', cid: 3, port: NaN, match: /port must be an integer/ },
];

t.test('connect targets are validated before any syscall', async (t) => {
  for (const c of badTargets) {
    t.throws(() => checkConnectTarget(c.cid, c.port, c.allowHost ?? false), { code: 'ERR_INVALID_ARG_VALUE', message: c.match }, c.desc);
    // connect() must reject the same way, without opening a socket.
    await t.rejects(connect(c.cid as number, c.port as number, { allowHostCid: c.allowHost }), { message: c.match }, `connect(): ${c.desc}`);
  }
  t.same(checkConnectTarget(2, 1024, true), { cid: 2, port: 1024 }, 'allowHostCid lifts the guard (validation only; nothing connects)');
  t.same(checkConnectTarget(1, 0), { cid: 1, port: 0 }, 'loopback CID is allowed');
  await t.rejects(connect(3, 1024, { timeoutMs: -1 }), { code: 'ERR_INVALID_ARG_VALUE' }, 'negative timeout');
  await t.rejects(connect(3, 1024, { bufferSize: 1.5 }), { code: 'ERR_INVALID_ARG_VALUE' }, 'fractional bufferSize');
  t.throws(() => listen(1024, { bufferSize: -1 }), { code: 'ERR_INVALID_ARG_VALUE' }, 'listen: negative bufferSize');
  t.throws(() => listen(-1), { code: 'ERR_INVALID_ARG_VALUE' }, 'listen: negative port');
  t.throws(() => listen(1024, { backlog: 1e6 }), { code: 'ERR_INVALID_ARG_VALUE' }, 'listen: huge backlog');
});

t.test('AF_VSOCK socket() gives the same outcome every time', async (t) => {
  const outcome = (): string => {
    try {
      const h = createHandle();
      const ok = h.fd >= 0 ? 'fd' : `bad fd ${h.fd}`;
      h.close();
      t.equal(h.fd, -1, 'close() releases the fd');
      h.close(); // idempotent
      return ok;
    } catch (err) {
      t.ok(err instanceof VsockError, 'failure is a VsockError');
      t.equal((err as VsockError).code, 'EAFNOSUPPORT', 'the only expected failure is a kernel without vsock');
      t.equal((err as VsockError).syscall, 'socket');
      return 'EAFNOSUPPORT';
    }
  };
  const first = outcome();
  t.ok(first === 'fd' || first === 'EAFNOSUPPORT', `socket(AF_VSOCK) → ${first}`);
  t.equal(outcome(), first, 'consistent');
  t.equal(existsSync('/sys/module/vsock'), first === 'fd', 'socket() works iff the vsock module is loaded');
});

t.test('closed handles refuse further calls', async (t) => {
  const [a, b] = socketPairForTest();
  a.destroy();
  b.destroy();
  await Promise.all([once(a, 'close'), once(b, 'close')]);
  t.equal(a.fd, -1);
  const h = new (loadAddon().Handle)(0x7fffffff);
  h.close(); // never polled: must not touch the (invalid) fd beyond close()
  t.throws(() => h.read(Buffer.alloc(1)), { code: 'ERR_SOCKET_CLOSED' });
});

function sha(buf: Buffer): string {
  return createHash('sha256').update(buf).digest('hex');
}

// Reads to EOF without destroying the stream (for-await would destroy it,
// which would hide half-close behaviour).
function collect(s: VsockSocket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    s.on('data', (c: Buffer) => parts.push(c));
    s.once('end', () => resolve(Buffer.concat(parts)));
    s.once('error', reject);
  });
}

t.test('stream machinery over a socketpair', async (t) => {
  const cases: Array<{ desc: string; run: (t: Test) => Promise<void> }> = [
    {
      desc: '16 MiB each way with checksums (partial writes, backpressure, EOF)',
      run: async (t) => {
        const [a, b] = socketPairForTest();
        t.teardown(() => {
          a.destroy();
          b.destroy();
        });
        const ab = randomBytes(16 << 20);
        const ba = randomBytes(16 << 20);
        const got = Promise.all([collect(b), collect(a)]);
        a.end(ab);
        b.end(ba);
        const [gotB, gotA] = await got;
        t.equal(sha(gotB), sha(ab), 'a → b intact');
        t.equal(sha(gotA), sha(ba), 'b → a intact');
        t.equal(a.bytesWritten, ab.length);
        t.equal(b.bytesRead, ab.length);
      },
    },
    {
      desc: 'half-close: end() sends EOF while the other direction keeps working',
      run: async (t) => {
        const [a, b] = socketPairForTest();
        t.teardown(() => {
          a.destroy();
          b.destroy();
        });
        // a is half-open-capable only on b's side: b must keep writing after a's EOF.
        const b2 = b as VsockSocket & { allowHalfOpen: boolean };
        b2.allowHalfOpen = true;
        a.end('request');
        const req = await collect(b);
        t.equal(req.toString(), 'request', 'b sees the data then EOF');
        const replyP = collect(a);
        b.end('reply after EOF');
        t.equal((await replyP).toString(), 'reply after EOF', 'a still reads after its own end()');
      },
    },
    {
      desc: 'backpressure: write() returns false when the peer does not read',
      run: async (t) => {
        const [a, b] = socketPairForTest();
        t.teardown(() => {
          a.destroy();
          b.destroy();
        });
        b.pause();
        let n = 0;
        while (a.write(Buffer.alloc(64 * 1024)) && n < 10_000) n++;
        t.ok(n < 10_000, `write() said stop after ${n} chunks`);
        t.ok(a.writableLength > 0, 'data is queued in the stream, not lost');
        const drained = once(a, 'drain');
        b.resume();
        await drained;
        t.pass('drain after the peer reads');
      },
    },
    {
      desc: 'peer destroyed: reader sees EOF, writer gets EPIPE',
      run: async (t) => {
        const [a, b] = socketPairForTest();
        t.teardown(() => {
          a.destroy();
          b.destroy();
        });
        b.destroy();
        const err = await new Promise<Error | undefined>((resolve) => {
          a.on('error', resolve);
          a.on('close', () => resolve(undefined));
          a.resume();
          a.write(Buffer.alloc(1 << 20));
        });
        if (err) t.match((err as VsockError).code, /^(EPIPE|ECONNRESET)$/, 'writer fails with EPIPE/ECONNRESET');
        else t.pass('reader saw EOF and closed');
        t.equal(a.destroyed, true);
      },
    },
  ];
  for (const c of cases) await t.test(c.desc, c.run);
});

t.test('a dropped, unclosed handle has its fd closed at GC', async (t) => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const addon = loadAddon();
  const pair = addon.socketPair();
  if (typeof pair === 'number') throw new VsockError(pair, 'socketpair');
  (() => {
    const h = new addon.Handle(pair[0]);
    h.onpoll = () => h; // a closure cycle through the handle must not keep it alive
  })();
  const fdPath = `/proc/self/fd/${pair[0]}`;
  t.ok(existsSync(fdPath), 'fd open while the handle may still be referenced');
  for (let i = 0; i < 20 && existsSync(fdPath); i++) {
    gc();
    await new Promise((r) => setImmediate(r));
  }
  t.notOk(existsSync(fdPath), 'fd closed by the finalizer');
  new addon.Handle(pair[1]).close();
});

t.test('loopback (CID 1) connection on this host', async (t) => {
  if (!existsSync('/sys/module/vsock_loopback')) {
    t.comment('vsock_loopback is not loaded on this host: vsock loopback connections are tested only in the guest (test/guest/vsock-selftest.ts)');
    t.notOk(existsSync('/sys/module/vsock_loopback'), 'vsock_loopback absent, loopback part not run here');
    return;
  }
  // Bound to CID 1 so nothing outside this machine can reach the listener.
  const server = listen(VMADDR_PORT_ANY, { cid: VMADDR_CID_LOCAL });
  t.teardown(() => server.close());
  const { port } = server.address();
  server.on('connection', (s: VsockSocket) => s.pipe(s));
  const c = await connect(VMADDR_CID_LOCAL, port, { timeoutMs: 5000 });
  c.end('ping');
  t.equal((await collect(c)).toString(), 'ping', 'echo over vsock loopback');
});

t.test('many small writes arrive intact and in order (_writev batching)', async (t) => {
  const [a, b] = socketPairForTest();
  t.teardown(() => {
    a.destroy();
    b.destroy();
  });
  const got = collect(b);
  a.cork();
  const parts: Buffer[] = [];
  for (let i = 0; i < 1000; i++) {
    const p = Buffer.from(`frame ${i};`);
    parts.push(p);
    a.write(p);
  }
  process.nextTick(() => a.uncork());
  a.end();
  t.equal((await got).toString(), Buffer.concat(parts).toString());
});
