// host/spawn.ts with the native addon: programs started with posix_spawn,
// watched through a pidfd and reaped, behave as Node's children do for the
// callers (runc, conmon, CNI plugins): output, exit codes, signals, stdin,
// env, cwd, extra pipes, sessions, and nothing of the daemon leaks into them.

import t from 'tap';
import { spawn as nodeSpawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { ProgramError, runProgram, spawnChild, type Child } from '../../src/host/spawn';
import { loadAddon } from '../../common/native/addon';

try {
  loadAddon();
} catch (err) {
  t.fail(`missing component: the native addon (scripts/build-native): ${(err as Error).message}`);
}

interface Ended {
  code: number | null;
  signal: NodeJS.Signals | null;
  out: string;
  err: string;
  events: string[];
}

function collect(c: Child): Promise<Ended> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const events: string[] = [];
  c.stdout?.on('data', (b: Buffer) => out.push(b));
  c.stderr?.on('data', (b: Buffer) => err.push(b));
  c.on('exit', () => events.push('exit'));
  return new Promise((resolve, reject) => {
    c.on('error', reject);
    c.on('close', (code, signal) => {
      events.push('close');
      resolve({ code, signal, out: Buffer.concat(out).toString(), err: Buffer.concat(err).toString(), events });
    });
  });
}

const piped = { stdio: ['ignore', 'pipe', 'pipe'] as ('ignore' | 'pipe')[] };

t.test('output, exit code, and exit before close', async (t) => {
  const c = spawnChild('sh', ['-c', 'echo out; echo err >&2; exit 3'], piped);
  t.ok((c.pid ?? 0) > 0, 'a PID');
  const r = await collect(c);
  t.same([r.out, r.err, r.code, r.signal], ['out\n', 'err\n', 3, null]);
  t.same(r.events, ['exit', 'close'], "'exit', then 'close' once the pipes closed");
  t.notOk(existsSync(`/proc/${c.pid}`), 'reaped: no zombie left');
});

t.test('stdin is written, a signal ends it and is reported by name', async (t) => {
  const cat = spawnChild('cat', [], { stdio: ['pipe', 'pipe', 'ignore'] });
  cat.stdin!.end('through stdin');
  t.equal((await collect(cat)).out, 'through stdin', 'cat echoed what was written');
  const sleeper = spawnChild('sleep', ['100'], piped);
  const ended = collect(sleeper);
  t.equal(sleeper.kill('SIGTERM'), true, 'kill() delivered');
  t.match(await ended, { code: null, signal: 'SIGTERM' });
  t.equal(sleeper.kill('SIGKILL'), false, 'no signal to a child that has gone');
});

t.test('env, cwd, signals at their defaults, and no fd of the daemon: as a child of Node', async (t) => {
  const script = 'echo "$ONLY"; pwd; grep -E "^Sig(Ign|Blk):" /proc/self/status; ls /proc/self/fd';
  const r = await collect(spawnChild('/bin/sh', ['-c', script], { ...piped, env: { ONLY: 'this', PATH: '/usr/bin:/bin' }, cwd: '/tmp' }));
  const [only, cwd, ...rest] = r.out.trim().split('\n');
  t.equal(only, 'this', 'the env given');
  t.equal(cwd, '/tmp', 'the cwd given');
  // What Node's own spawn gives the same script: the fds the test process itself holds without O_CLOEXEC, if any.
  const node = nodeSpawn('/bin/sh', ['-c', script], { stdio: ['ignore', 'pipe', 'pipe'], env: { ONLY: 'this', PATH: '/usr/bin:/bin' }, cwd: '/tmp' });
  const theirs = (await collect(node)).out.trim().split('\n').slice(2);
  t.match(rest.slice(0, 2).join(' '), /^Sig(Ign|Blk):\s+0+ Sig(Ign|Blk):\s+0+$/, 'no signal ignored (Node ignores SIGPIPE; glibc would ignore its own 32 and 33), none blocked');
  t.same(rest.slice(2), theirs.slice(2), 'the same fds as a child of Node: 0-2, the one ls reads with, nothing of the daemon');
});

t.test("without an env given, the daemon's own, as it is now", async (t) => {
  process.env.VMPOD_SPAWN_PROBE = `set-${process.pid}`;
  t.teardown(() => delete process.env.VMPOD_SPAWN_PROBE);
  const r = await collect(spawnChild('sh', ['-c', 'echo "$VMPOD_SPAWN_PROBE"'], piped));
  t.equal(r.out, `set-${process.pid}\n`, 'a variable set in process.env after start reaches the child');
});

t.test('an extra pipe as fd 3, and a session of its own', async (t) => {
  const c = spawnChild('sh', ['-c', 'echo ready >&3; cut -d" " -f6 /proc/$$/stat'], { stdio: ['ignore', 'pipe', 'ignore', 'pipe'], detached: true });
  const fd3: Buffer[] = [];
  (c.stdio[3] as Readable).on('data', (b: Buffer) => fd3.push(b));
  const r = await collect(c);
  t.equal(Buffer.concat(fd3).toString(), 'ready\n', 'written to fd 3');
  t.equal(Number(r.out.trim()), c.pid, 'its session is its own PID (setsid)');
});

t.test('a program that is not there is an ENOENT error, with the pipes asked for', async (t) => {
  for (const name of ['vmpod-no-such-program', '/nonexistent/program']) {
    const c = spawnChild(name, [], piped);
    t.ok(c.stdout && c.stderr, 'stdout and stderr exist');
    await t.rejects(collect(c), { code: 'ENOENT' }, name);
  }
});

t.test('runProgram: promisify(execFile) over spawnChild', async (t) => {
  t.same(await runProgram('sh', ['-c', 'echo hi; echo warn >&2']), { stdout: 'hi\n', stderr: 'warn\n' }, 'the output of a program that exits 0');
  await t.rejects(
    runProgram('sh', ['-c', 'echo busy >&2; exit 32']),
    { constructor: ProgramError, code: 32, signal: null, stderr: 'busy\n', message: /^sh -c .* exited 32: busy$/ },
    'non-zero: the exit code and what it said',
  );
  await t.rejects(runProgram('sh', ['-c', 'kill -TERM $$']), { constructor: ProgramError, code: null, signal: 'SIGTERM' }, 'killed: the signal by name');
  await t.rejects(runProgram('vmpod-no-such-program', []), { constructor: ProgramError, code: 'ENOENT' }, 'cannot start: the errno name as code');
  t.same(await runProgram('pwd', [], { cwd: '/tmp' }), { stdout: '/tmp\n', stderr: '' }, 'in the cwd given');
});
