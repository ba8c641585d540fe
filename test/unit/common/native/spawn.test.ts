// common/native/spawn.ts with the native addon: programs started with
// posix_spawn, watched through a pidfd and reaped, behave as Node's children
// do for the callers (the daemon's runc, conmon and CNI plugins; the guest
// agent's crun): output, exit codes, signals, stdin, env, cwd, extra pipes,
// /dev/null, a given fd as stdio (a terminal's slave), sessions, errors, and
// nothing of the parent leaks into them.

import t from 'tap';
import { spawn as nodeSpawn } from 'node:child_process';
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { ReadStream } from 'node:tty';
import { spawnChild, type Child } from '../../../../common/native/spawn';
import { loadAddon } from '../../../../common/native/addon';
import { openPty } from '../../../../common/native/pty';

try {
  if (typeof loadAddon().spawn !== 'function') t.fail('missing component: an addon with spawn (scripts/build-native)');
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

t.test("'ignore' is /dev/null, for reading and writing", async (t) => {
  const r = await collect(spawnChild('sh', ['-c', 'readlink /proc/self/fd/0 /proc/self/fd/2; read x || echo eof; echo lost >&2'], { stdio: ['ignore', 'pipe', 'ignore'] }));
  t.same([r.out, r.code], ['/dev/null\n/dev/null\neof\n', 0], 'fds 0 and 2 are /dev/null: stdin at its end, stderr swallowed');
});

t.test('exit codes and signals as Node reports them', async (t) => {
  const cases: { name: string; script: string; code: number | null; signal: NodeJS.Signals | null }[] = [
    { name: 'exit 0', script: 'exit 0', code: 0, signal: null },
    { name: 'exit 1', script: 'exit 1', code: 1, signal: null },
    { name: 'exit 255', script: 'exit 255', code: 255, signal: null },
    { name: 'killed by its own SIGKILL', script: 'kill -KILL $$', code: null, signal: 'SIGKILL' },
    { name: 'SIGPIPE at its default (Node ignores it in itself)', script: 'kill -PIPE $$', code: null, signal: 'SIGPIPE' },
  ];
  for (const c of cases) t.match(await collect(spawnChild('sh', ['-c', c.script], piped)), { code: c.code, signal: c.signal }, c.name);
});

t.test('a given fd as stdin, stdout and stderr: a terminal, left open for its owner', async (t) => {
  const { master, slave } = openPty();
  const out = new ReadStream(master);
  out.on('error', () => undefined); // EIO once the last holder of the slave is gone
  let text = '';
  out.on('data', (b: Buffer) => (text += b.toString()));
  const outputEnded = new Promise((r) => out.on('close', r));
  const c = spawnChild('sh', ['-c', 'test -t 0 && test -t 1 && test -t 2 && echo on-a-terminal; read x; echo "got:$x" >&2'], { stdio: [slave, slave, slave] });
  t.same(c.stdio, [null, null, null], 'no pipes');
  t.equal(c.stdin, null, 'no stdin stream: the terminal is written through its master');
  // Still ours: closing it is what lets the output end once the child has gone (terminal.ts releaseSlave).
  t.doesNotThrow(() => closeSync(slave), "the caller's fd is still open after the spawn");
  out.write('typed\n');
  const r = await collect(c);
  await outputEnded;
  t.same([r.code, text], [0, 'on-a-terminal\ngot:typed\n'], 'fds 0-2 are the terminal: read from it, stdout and stderr written to it');
});

t.test('a given fd beside pipes, and one numbered below the fds it fills', async (t) => {
  const file = join(tmpdir(), `vmpod-spawn-fd-${process.pid}`);
  const fd = openSync(file, 'w');
  t.teardown(() => {
    closeSync(fd);
    rmSync(file);
  });
  // fd 3 of the child is the file, its fd 1 a pipe: the dup of one cannot clobber the other.
  const r = await collect(spawnChild('sh', ['-c', 'echo to-file >&3; echo to-pipe'], { stdio: ['ignore', 'pipe', 'ignore', fd] }));
  t.same([r.code, r.out, readFileSync(file, 'utf8')], [0, 'to-pipe\n', 'to-file\n'], 'each fd where it was asked for');
  // This process's fd 1 given as the child's fd 2 (a source below the count of fds the child gets).
  const dup = spawnChild('sh', ['-c', 'readlink /proc/self/fd/2 >&3'], { stdio: ['ignore', 'ignore', 1, 'pipe'] });
  const got: Buffer[] = [];
  (dup.stdio[3] as Readable).on('data', (b: Buffer) => got.push(b));
  await collect(dup);
  t.equal(Buffer.concat(got).toString().trim(), readlinkSync('/proc/self/fd/1'), "the child's fd 2 is what this process's fd 1 is");
});

t.test('a closed fd given is an EBADF error; a negative or fractional one is refused at once', async (t) => {
  // Far above what this test opens: a number just closed would be reused by the pipes made for the same spawn.
  const fd = 900;
  t.throws(() => fstatSync(fd), { code: 'EBADF' }, `fd ${fd} is not open here`);
  const c = spawnChild('true', [], { stdio: [fd, 'pipe', 'pipe'] });
  t.ok(c.stdout && c.stderr, 'the pipes asked for exist');
  await t.rejects(collect(c), { code: 'EBADF', syscall: 'spawn true' }, "'error' with EBADF, as posix_spawn's dup2 reports it");
  t.throws(() => spawnChild('true', [], { stdio: [-1] }), TypeError, '-1');
  t.throws(() => spawnChild('true', [], { stdio: [1.5] }), TypeError, '1.5');
});
