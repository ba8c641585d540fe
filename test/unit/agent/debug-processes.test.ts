// Debug processes (DebugExec, `vmpod debug`) through the real agent
// handlers, really run on this host by busybox setsid as in the guest: the
// gate CreateSandbox sets, argument checks, pipes and terminal, the clean
// environment, and that nothing of a session outlives its leader or a kill.

import t from 'tap';
import { GrpcStatus } from '../../../common/errors';
import { RemoteStatusError } from '../../../common/ttrpc';
import { checkDebugExec, sessionOf } from '../../../agent/src/debug-processes';
import type { DebugExecRequest } from '../../../common/generated/agent/agent';
import { readAll } from './harness';
import { running, startDebugClient } from './debug-harness';

const G = ''; // container_id of the guest itself

function req(args: string[], extra: Partial<DebugExecRequest> = {}): DebugExecRequest {
  return { exec_id: 'd1', args, env: [], terminal: false, rows: 0, cols: 0, stdin: false, ...extra };
}

async function status(p: Promise<unknown>): Promise<{ code?: number; message: string }> {
  return p.then(
    () => ({ message: '' }),
    (e: unknown) => ({ code: (e as RemoteStatusError).grpcStatus, message: (e as RemoteStatusError).remoteMessage ?? String(e) }),
  );
}

t.test('checkDebugExec: what a request may hold', async (t) => {
  const cases: Array<[string, Partial<DebugExecRequest>, RegExp | null]> = [
    ['a plain command', { args: ['cat', '/proc/version'] }, null],
    ['no program', { args: [] }, /args.*empty/],
    ['a program named like an option of setsid', { args: ['-c', 'x'] }, /args\[0\]/],
    ['an empty program name', { args: [''] }, /args\[0\]/],
    ['a NUL in an argument', { args: ['echo', 'a\0b'] }, /args\[1\].*NUL/],
    ['too many arguments', { args: Array.from({ length: 257 }, () => 'x') }, /more than 256/],
    ['an argument too long', { args: ['echo', 'x'.repeat(4097)] }, /args\[1\].*4096/],
    ['env not NAME=value', { args: ['sh'], env: ['novalue'] }, /env\[0\]/],
    ['env with a bad name', { args: ['sh'], env: ['A-B=1'] }, /env\[0\]/],
    ['a bad exec id', { args: ['sh'], exec_id: '../x' }, /not a valid id/],
    ['a terminal too large', { args: ['sh'], terminal: true, rows: 70000, cols: 1 }, /does not fit/],
  ];
  for (const [what, r, err] of cases) {
    const full = { ...req(['sh']), ...r };
    if (err) t.throws(() => checkDebugExec(full), err, what);
    else t.doesNotThrow(() => checkDebugExec(full), what);
  }
  const ok = checkDebugExec(req(['sh'], { env: ['TERM=xterm', 'PATH=/bin'], terminal: true, rows: 30, cols: 100 }));
  t.same(ok.env, { PATH: '/bin', HOME: '/root', TERM: 'xterm' }, 'defaults under what the request sets; nothing of the agent');
  t.same(ok.terminal, { rows: 30, cols: 100 }, 'the terminal size');
  t.equal(checkDebugExec(req(['sh'], { terminal: true })).terminal, null, 'a terminal of the default size');
  t.equal(checkDebugExec(req(['sh'])).terminal, undefined, 'pipes');
});

t.test('sessionOf reads the session id past a command name with spaces and parentheses', async (t) => {
  t.equal(sessionOf('123 (a b) c) S 1 123 77 0 -1'), 77);
  t.equal(sessionOf('garbage'), undefined);
});

t.test('refused unless CreateSandbox enabled debug processes', async (t) => {
  const { client } = startDebugClient(t);
  const before = await status(client.call('DebugExec', req(['true'])));
  t.equal(before.code, GrpcStatus.FAILED_PRECONDITION, 'FAILED_PRECONDITION before CreateSandbox');
  t.match(before.message, /\[debug\] guest_shell was off/, 'naming the host setting');
  await client.call('CreateSandbox', { sandbox_id: 'p', debug_processes: false });
  t.equal((await status(client.call('DebugExec', req(['true'])))).code, GrpcStatus.FAILED_PRECONDITION, 'and after a CreateSandbox that did not enable them');
  t.equal((await status(client.call('WaitProcess', { container_id: G, exec_id: 'd1' }))).code, GrpcStatus.NOT_FOUND, 'nothing was started');
});

t.test('on pipes: outside crun, stdout and stderr apart, the exit code, a clean environment', async (t) => {
  const { h, client, debug } = startDebugClient(t);
  await client.call('CreateSandbox', { sandbox_id: 'p', debug_processes: true });
  const script = 'echo "out $PATH $HOME $FOO"; echo err >&2; read line; echo "in=$line"; [ -z "$VMPOD_AGENT_TEST_SECRET" ] && exit 3';
  process.env.VMPOD_AGENT_TEST_SECRET = 'x';
  t.teardown(() => delete process.env.VMPOD_AGENT_TEST_SECRET);
  const { pid } = await client.call('DebugExec', req(['sh', '-c', script], { env: ['FOO=bar'], stdin: true }));
  t.ok(pid > 1, 'a pid');
  await client.call('WriteStdin', { container_id: G, exec_id: 'd1', data: Buffer.from('typed\n') });
  await client.call('CloseStdin', { container_id: G, exec_id: 'd1' });
  t.equal(
    await readAll(client, G, 'd1', 'readStdout'),
    'out /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin /root bar\nin=typed\n',
    'stdout, with the default PATH and HOME and what was asked',
  );
  t.equal(await readAll(client, G, 'd1', 'readStderr'), 'err\n', 'stderr apart');
  const w = await client.waitProcess({ container_id: G, exec_id: 'd1', wait_ms: 5000 });
  t.same([w.exited, w.exit_code], [true, 3], "the exit code (and none of the agent's environment)");
  t.notOk(
    h.commands.some((c) => c.cmd === 'crun'),
    'no crun involved',
  );
  t.equal(debug.count, 0, 'the record is forgotten once collected');
  const missing = await status(client.call('DebugExec', req(['/nonexistent/prog'], { exec_id: 'd2' })));
  t.equal(missing.code, undefined, 'a missing program starts (setsid reports it)');
  const w2 = await client.waitProcess({ container_id: G, exec_id: 'd2', wait_ms: 5000 });
  t.equal(w2.exit_code, 127, 'and exits 127, as a shell would');
});

t.test('on a terminal: its own session, the pty as controlling terminal, the size asked', async (t) => {
  const { client } = startDebugClient(t);
  await client.call('CreateSandbox', { sandbox_id: 'p', debug_processes: true });
  const { pid } = await client.call('DebugExec', req(['sh', '-c', 'stty size; cat /proc/self/stat; echo; exit 5'], { terminal: true, rows: 30, cols: 100, env: ['TERM=dumb'] }));
  const out = await readAll(client, G, 'd1', 'readStdout');
  t.equal(await readAll(client, G, 'd1', 'readStderr'), '', 'nothing on stderr: the terminal has it all');
  const [size, stat] = out.split(/\r?\n/);
  t.equal(size, '30 100', 'the size asked');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  t.equal(Number(fields[3]), pid, 'in the session the process leads');
  t.not(Number(fields[4]), 0, 'with a controlling terminal (so ^C reaches it)');
  const w = await client.waitProcess({ container_id: G, exec_id: 'd1', wait_ms: 5000 });
  t.equal(w.exit_code, 5);
});

t.test('nothing of a session outlives its leader, or a SIGKILL from the host', async (t) => {
  const { client, debug } = startDebugClient(t);
  await client.call('CreateSandbox', { sandbox_id: 'p', debug_processes: true });
  // The leader exits and leaves a background child holding its stdout.
  await client.call('DebugExec', req(['sh', '-c', 'sleep 1000 & echo $!'], { exec_id: 'left' }));
  const left = Number((await readAll(client, G, 'left', 'readStdout')).trim());
  t.ok(left > 1, 'the background child ran');
  const w = await client.waitProcess({ container_id: G, exec_id: 'left', wait_ms: 5000 });
  t.same([w.exited, w.exit_code], [true, 0], 'the exit is reported (the output ended: the child was killed)');
  await readAll(client, G, 'left', 'readStderr');
  t.ok(await goneWithin(left, 5000), 'the background child is gone');

  // The host kills a running one (its client went away).
  await client.call('DebugExec', req(['sh', '-c', 'sleep 1000 & echo $!; wait'], { exec_id: 'killed', stdin: true }));
  const first = await client.readStdout({ container_id: G, exec_id: 'killed', wait_ms: 5000 });
  const child = Number(Buffer.from(first.data).toString().trim());
  t.ok(running(child), 'a child runs in the session');
  await client.call('SignalProcess', { container_id: G, exec_id: 'killed', signal: 9 });
  const k = await client.waitProcess({ container_id: G, exec_id: 'killed', wait_ms: 5000 });
  t.same([k.exited, k.exit_code], [true, 137], 'the leader was killed');
  t.ok(await goneWithin(child, 5000), 'and its child with it');
  await readAll(client, G, 'killed', 'readStdout');
  await readAll(client, G, 'killed', 'readStderr');
  t.equal(debug.count, 0, 'no record left');
  t.equal((await status(client.call('SignalProcess', { container_id: G, exec_id: 'killed', signal: 9 }))).code, GrpcStatus.NOT_FOUND, 'a collected process is NOT_FOUND');
});

/**
 * Whether `pid` is gone (or a zombie) within `ms`. A SIGKILLed process closes
 * its files (which ends the output the test waited for) a moment before it
 * becomes a zombie, and under load that moment can be seen.
 */
async function goneWithin(pid: number, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; running(pid); await new Promise((r) => setTimeout(r, 20))) if (Date.now() > end) return false;
  return true;
}
