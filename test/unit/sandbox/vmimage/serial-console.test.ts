// The serial console pump against a stand-in for QEMU's console socket (a
// unix socket server taking one client, as `-chardev socket,server=on`
// does): output into the CRI log as records, \r\n handling, reconnecting
// after a drop, attach sessions in and out, close leaving nothing behind,
// and a flood without newlines staying bounded.

import t, { type Test } from 'tap';
import { mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { silentLogger } from '../../../../src/log';
import { DEFAULT_MAX_LINE_BYTES } from '../../../../src/logs/cri-log';
import { ByteRing, CONSOLE_ATTACH_BUFFER_BYTES, CONSOLE_TAIL_BYTES, SerialConsole, stripCrBeforeLf } from '../../../../src/sandbox/vmimage/serial-console';
import { trackTimeouts } from '../../../helpers/timer-census';

const log = silentLogger;

/** QEMU's side: a socket server with one client at a time. */
class FakeQemuConsole {
  readonly path: string;
  client: Socket | undefined;
  connects = 0;
  received = '';
  private readonly server: Server;
  private waiters: Array<() => void> = [];

  constructor(dir: string) {
    this.path = join(dir, 'console.sock');
    this.server = createServer((s) => {
      this.client = s;
      this.connects++;
      s.on('data', (b: Buffer) => (this.received += b.toString()));
      s.on('error', () => undefined);
      this.waiters.splice(0).forEach((w) => w());
    });
  }

  listen(): Promise<void> {
    return new Promise((r) => this.server.listen(this.path, r));
  }

  /** Resolves once `n` clients have connected. */
  async connected(n = 1): Promise<Socket> {
    while (this.connects < n) await new Promise<void>((r) => this.waiters.push(r));
    return this.client!;
  }

  write(b: string | Buffer): Promise<void> {
    return new Promise((r) => this.client!.write(b, () => r()));
  }

  close(): Promise<void> {
    this.client?.destroy();
    return new Promise((r) => this.server.close(() => r()));
  }
}

interface LogRecord {
  stream: string;
  tag: string;
  text: string;
}

function records(path: string): LogRecord[] {
  const text = readFileSync(path, 'latin1');
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z) (stdout|stderr) ([PF]) (.*)$/s.exec(l);
      if (!m) throw new Error(`not a CRI log record: ${JSON.stringify(l.slice(0, 80))}`);
      return { stream: m[2], tag: m[3], text: m[4] };
    });
}

async function until(what: string, cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function setup(t: Test, opts: { listen?: boolean } = {}): Promise<{ q: FakeQemuConsole; dir: string; logPath: string; open: () => SerialConsole }> {
  const dir = mkdtempSync(join(tmpdir(), 'console-'));
  const q = new FakeQemuConsole(dir);
  if (opts.listen !== false) await q.listen();
  const consoles: SerialConsole[] = [];
  t.teardown(async () => {
    await Promise.all(consoles.map((c) => c.close()));
    await q.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });
  const logPath = join(dir, 'log', 'c1.log');
  return {
    q,
    dir,
    logPath,
    open: () => {
      const c = new SerialConsole({ socketPath: q.path, logPath, log });
      consoles.push(c);
      return c;
    },
  };
}

t.test('stripCrBeforeLf: \\r\\n becomes \\n, every other byte stays, across chunks', async (t) => {
  const cases = [
    { desc: 'crlf lines', chunks: ['a\r\nb\r\n'], want: 'a\nb\n' },
    { desc: 'a lone \\r stays (a progress line)', chunks: ['50%\r60%\r\n'], want: '50%\r60%\n' },
    { desc: "\\r\\r\\n (a tty's ONLCR on \\r\\n) becomes \\n", chunks: ['x\r\r\ny'], want: 'x\ny' },
    { desc: '\\r at a chunk end, \\n in the next', chunks: ['a\r', '\nb'], want: 'a\nb' },
    { desc: '\\r at a chunk end, no \\n after', chunks: ['a\r', 'b'], want: 'a\rb' },
    { desc: 'a run of \\r split over chunks, then \\n', chunks: ['a\r', '\r', '\r\nb'], want: 'a\nb' },
    { desc: 'a run of \\r split over chunks, then text', chunks: ['a\r', '\r', '\rb'], want: 'a\r\r\rb' },
    { desc: 'binary bytes pass', chunks: ['\x00\xff\x1b[0m'], want: '\x00\xff\x1b[0m' },
    { desc: 'an empty chunk keeps the held \\r', chunks: ['a\r', '', '\n'], want: 'a\n' },
  ];
  for (const c of cases) {
    let held = 0;
    let out = '';
    for (const ch of c.chunks) {
      const r = stripCrBeforeLf(Buffer.from(ch, 'latin1'), held);
      held = r.heldCr;
      out += r.bytes.toString('latin1');
    }
    t.equal(JSON.stringify(out), JSON.stringify(c.want), c.desc);
    t.equal(held, 0, `${c.desc}: nothing held at the end`);
  }
  const flood = stripCrBeforeLf(Buffer.alloc(1 << 20, 0x0d), 0);
  t.ok(flood.heldCr <= 64 && flood.bytes.length + flood.heldCr === 1 << 20, 'a flood of \\r is passed on, not held');
});

t.test('ByteRing keeps the newest bytes', async (t) => {
  const r = new ByteRing(8);
  r.push(Buffer.from('abc'));
  t.equal(r.last(100).toString(), 'abc', 'fewer than its size');
  r.push(Buffer.from('defghij'));
  t.equal(r.last(8).toString(), 'cdefghij', 'wrapped');
  t.equal(r.last(3).toString(), 'hij', 'the last n');
  r.push(Buffer.from('0123456789XY'));
  t.equal(r.last(8).toString(), '456789XY', 'a push larger than the ring');
});

t.test('console output becomes CRI log records (\\r\\n as \\n), and the tail', async (t) => {
  const { q, logPath, open } = await setup(t);
  const c = open();
  c.start();
  await q.connected();
  await q.write('[    0.000000] Linux version 6.1\r\n');
  await q.write('Starting udev\r\r\ncloud-init: ok\r\nlogin: ');
  await until('the tail', () => c.tail().includes('login: '));
  t.equal(c.tail(), '[    0.000000] Linux version 6.1\nStarting udev\ncloud-init: ok\nlogin: ', 'tail() is text with \\n line ends');
  t.equal(c.tail(7), 'login: ', 'tail(n): the last n bytes');
  await c.close();
  t.same(
    records(logPath),
    [
      { stream: 'stdout', tag: 'F', text: '[    0.000000] Linux version 6.1' },
      { stream: 'stdout', tag: 'F', text: 'Starting udev' },
      { stream: 'stdout', tag: 'F', text: 'cloud-init: ok' },
      { stream: 'stdout', tag: 'P', text: 'login: ' },
    ],
    'one F record per line, the prompt without newline as P, no \\r',
  );
});

t.test('the log file exists before any output; no log path: no file', async (t) => {
  const { q, logPath, open } = await setup(t);
  const c = open();
  c.start();
  await q.connected();
  await until('the log file', () => {
    try {
      readFileSync(logPath);
      return true;
    } catch {
      return false;
    }
  });
  t.pass('created at start');
  const d = new SerialConsole({ socketPath: q.path, logPath: '', log });
  t.equal(d.tail(), '', 'an empty tail');
  await d.close();
});

t.test('reconnects after QEMU drops the connection; and starts before the socket exists', async (t) => {
  const { q, logPath, open } = await setup(t, { listen: false });
  const c = open();
  c.start();
  await new Promise((r) => setTimeout(r, 250));
  await q.listen();
  const first = await q.connected(1);
  await q.write('one\n');
  await until('one in the tail', () => c.tail().includes('one'));
  first.destroy();
  await q.connected(2);
  await q.write('two\n');
  await until('two in the tail', () => c.tail().includes('two'));
  await c.close();
  t.same(
    records(logPath).map((r) => r.text),
    ['one', 'two'],
    'output from both connections is in the log',
  );
});

t.test('attach: output from the moment of attach to every session, input from each to the guest', async (t) => {
  const { q, open } = await setup(t);
  const c = open();
  c.start();
  await q.connected();
  await q.write('before\r\n');
  await until('before', () => c.tail().includes('before'));
  let exit!: () => void;
  const vmExited = new Promise<void>((r) => (exit = r));
  const a = c.attach({ stdin: true, stdout: true, stderr: false, tty: true }, vmExited);
  const b = c.attach({ stdin: true, stdout: true, stderr: true, tty: false }, vmExited);
  const outs = [a, b].map(async (io) => {
    let s = '';
    for await (const x of io.stdout as Readable) s += (x as Buffer).toString();
    return s;
  });
  const errB = (async () => {
    let s = '';
    for await (const x of b.stderr as Readable) s += (x as Buffer).toString();
    return s;
  })();
  await q.write('login: ');
  a.stdin!.write('root\r');
  b.stdin!.write('ls\r');
  await until('input at the guest', () => q.received.includes('root\r') && q.received.includes('ls\r'));
  await t.resolves(a.resize({ width: 100, height: 30 }), 'resize with a tty: no effect, no error');
  await t.rejects(b.resize({ width: 100, height: 30 }), { code: 'FAILED_PRECONDITION' }, 'resize without a tty');
  await q.write('# \r\n');
  await new Promise((r) => setTimeout(r, 50));
  exit();
  t.same(await a.done, { exitCode: 0 }, 'done: exit code 0 when the VM ends');
  t.same(await b.done, { exitCode: 0 });
  t.same(await Promise.all(outs), ['login: # \r\n', 'login: # \r\n'], 'both sessions got the output since attach, bytes as the guest sent them');
  t.equal(await errB, '', 'stderr stays empty');
});

t.test('closing an attach session leaves the console running; closing the console ends sessions', async (t) => {
  const { q, open } = await setup(t);
  const c = open();
  c.start();
  const server = await q.connected();
  const never = new Promise<void>(() => undefined);
  const a = c.attach({ stdin: true, stdout: true, stderr: false, tty: true }, never);
  a.close();
  a.close();
  await t.rejects(a.done, { code: 'FAILED_PRECONDITION', message: /session was closed/ });
  t.notOk(server.destroyed, 'the console connection stays');
  const b = c.attach({ stdin: false, stdout: true, stderr: false, tty: true }, never);
  await c.close();
  await t.rejects(b.done, { code: 'UNAVAILABLE', message: /console was closed/ });
  await until('QEMU sees the console connection closed', () => server.destroyed || server.readableEnded);
  t.throws(() => c.attach({ stdin: false, stdout: true, stderr: false, tty: true }, never), { code: 'FAILED_PRECONDITION' }, 'no attach after close');
});

t.test('close leaves no socket and no timer, also while reconnecting', async (t) => {
  const census = trackTimeouts(/serial-console|cri-log/);
  t.teardown(() => census.restore());
  const pipes = (): number => process.getActiveResourcesInfo().filter((r) => r === 'PipeWrap' || r === 'PipeConnectWrap').length;
  await new Promise((r) => setTimeout(r, 100)); // the earlier tests' sockets finish closing
  const pipesBefore = pipes(); // tap's own
  const { q, open } = await setup(t);
  const c = open();
  c.start();
  const server = await q.connected();
  await q.write('partial line');
  await until('output', () => c.tail() !== '');
  server.destroy(); // a drop: a reconnect timer runs
  await new Promise((r) => setTimeout(r, 20));
  await q.close(); // and nothing to reconnect to: retries go on
  await new Promise((r) => setTimeout(r, 300));
  t.ok(census.live() > 0, 'a retry (or the partial-line flush) is pending before close');
  await Promise.all([c.close(), c.close()]);
  t.equal(census.live(), 0, 'no timer after close');
  const before = q.connects;
  await new Promise((r) => setTimeout(r, 300));
  t.equal(q.connects, before, 'no reconnect after close');
  t.equal(pipes(), pipesBefore, 'no unix socket of ours open');
});

t.test('reopenLog writes to a new file at the same path', async (t) => {
  const { q, logPath, open } = await setup(t);
  const c = open();
  c.start();
  await q.connected();
  await q.write('old\n');
  await until('old', () => c.tail().includes('old'));
  await new Promise((r) => setTimeout(r, 50));
  renameSync(logPath, `${logPath}.1`);
  await c.reopenLog();
  await q.write('new\n');
  await until('new', () => c.tail().includes('new'));
  await c.close();
  t.same(
    records(`${logPath}.1`).map((r) => r.text),
    ['old'],
  );
  t.same(
    records(logPath).map((r) => r.text),
    ['new'],
  );
});

t.test('a flood without newlines stays bounded: P records, a fixed tail, a slow client disconnected', async (t) => {
  const { q, logPath, open } = await setup(t);
  const c = open();
  c.start();
  await q.connected();
  const never = new Promise<void>(() => undefined);
  const slow = c.attach({ stdin: false, stdout: true, stderr: false, tty: true }, never); // never read
  const total = 24 << 20;
  const chunk = Buffer.alloc(1 << 20, 0x78);
  for (let sent = 0; sent < total; sent += chunk.length) {
    await q.write(chunk);
    t.ok((slow.stdout as Readable).readableLength <= CONSOLE_ATTACH_BUFFER_BYTES, 'the slow session holds at most its buffer', { diagnostic: false });
  }
  await t.rejects(slow.done, { code: 'RESOURCE_EXHAUSTED', message: /fell more than/ }, 'the slow client was disconnected');
  await until('the whole flood', () => c.tail().length === CONSOLE_TAIL_BYTES, 10_000);
  await new Promise((r) => setTimeout(r, 200));
  t.equal(c.tail(1 << 30).length, CONSOLE_TAIL_BYTES, 'the tail never holds more than its ring');
  await c.close();
  const recs = records(logPath);
  t.ok(
    recs.every((r) => r.tag === 'P' && r.text.length <= DEFAULT_MAX_LINE_BYTES),
    'every record is a P piece within the line cap',
  );
  t.equal(
    recs.reduce((n, r) => n + r.text.length, 0),
    total,
    'nothing lost or added',
  );
});
