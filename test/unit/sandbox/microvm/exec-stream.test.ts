// Streaming exec through the real agent handlers (test/unit/agent/harness:
// the processes run as plain children, on the agent's pty for a terminal):
// stdin to output, the exit code, the terminal's size, a slow reader, and a
// session closed in the middle.

import t from 'tap';
import type { Readable } from 'node:stream';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ociSpec, startClient, type Harness } from '../../agent/harness';
import { openExec, STREAM_READ_BYTES, type GuestPod } from '../../../../src/sandbox/microvm/exec-stream';
import type { AgentClient } from '../../../../src/agent-client';
import type { OciProcess } from '../../../../src/oci/types';
import { DeadlineExceededError } from '../../../../common/errors';

const proc = { env: ['PATH=/usr/bin:/bin'], cwd: '/', user: { uid: 0, gid: 0 }, terminal: false, noNewPrivileges: false, capabilities: {} } as unknown as Omit<OciProcess, 'args'>;

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function readAll(r: Readable | NodeJS.ReadableStream | undefined): Promise<string> {
  let s = '';
  for await (const b of r ?? []) s += (b as Buffer).toString();
  return s;
}

/**
 * The exec'd process's pid, from the pid file crun (here the harness's
 * stand-in) writes after it started the process: the process may print before
 * the file is there, so wait for it.
 */
async function execPid(bundle: string): Promise<number> {
  const end = Date.now() + 10_000;
  for (;;) {
    const file = readdirSync(bundle).find((f) => /^exec-.*\.pid$/.test(f));
    if (file) return Number(readFileSync(join(bundle, file), 'utf8').trim());
    if (Date.now() > end) throw new Error(`no exec pid file in ${bundle} after 10 s`);
    await new Promise((res) => setTimeout(res, 10));
  }
}

async function pod(t: { teardown(fn: () => void): void }): Promise<{ pod: GuestPod; client: AgentClient; h: Harness }> {
  const { client, h } = startClient(t);
  await client.call('CreateContainer', { container_id: 'c1', oci_spec_json: ociSpec(['sleep', '60']), rootfs_path: 'c1/rootfs' });
  await client.call('StartContainer', { container_id: 'c1' });
  return { pod: { id: 'p1', agent: client, alive: true, detached: false }, client, h };
}

t.test('stdin to stdout and stderr, and the exit code', async (t) => {
  const { pod: p } = await pod(t);
  const io = await openExec(p, 'c1', { ...proc, args: ['sh', '-c', 'cat; echo to-stderr >&2; exit 3'] }, { stdin: true, stdout: true, stderr: true, tty: false });
  io.stdin!.write('hello\n');
  io.stdin!.end('world\n');
  const [out, err, done] = await Promise.all([readAll(io.stdout), readAll(io.stderr), io.done]);
  t.equal(out, 'hello\nworld\n', 'stdin came back on stdout');
  t.equal(err, 'to-stderr\n', 'stderr apart');
  t.equal(done.exitCode, 3, 'exit code');
  await t.rejects(io.resize({ width: 80, height: 24 }), { code: 'FAILED_PRECONDITION' }, 'resize without a terminal');
  io.close();
});

t.test('a terminal of the size asked, resized', async (t) => {
  const { pod: p } = await pod(t);
  const io = await openExec(p, 'c1', { ...proc, args: ['sh', '-c', 'read x; stty size; exit 0'] }, { stdin: true, stdout: true, stderr: false, tty: true });
  t.equal(io.stderr, undefined, 'no stderr with a terminal');
  await io.resize({ width: 100, height: 30 });
  io.stdin!.write('go\n');
  const [out, done] = await Promise.all([readAll(io.stdout), io.done]);
  t.match(out, /30 100/, 'the process saw the new size');
  t.equal(done.exitCode, 0);
  io.close();
});

t.test('a slow reader holds the process back instead of losing output or growing a buffer', async (t) => {
  const { pod: p } = await pod(t);
  const total = 8 << 20; // eight times what the agent keeps of one stream
  const io = await openExec(p, 'c1', { ...proc, args: ['sh', '-c', `head -c ${total} /dev/zero`] }, { stdin: false, stdout: true, stderr: true, tty: false });
  const r = io.stdout as Readable;
  // Not reading: the session fills its own buffer, then asks the agent for no more.
  while (r.readableLength < r.readableHighWaterMark) await new Promise((res) => setTimeout(res, 20));
  t.ok(r.readableLength <= r.readableHighWaterMark + STREAM_READ_BYTES, `the session holds at most one read beyond its high-water mark (${r.readableLength} bytes)`);
  let n = 0;
  for await (const b of r) n += (b as Buffer).length;
  t.equal(n, total, 'every byte arrived: the producer was paused, nothing dropped');
  t.equal((await io.done).exitCode, 0);
  io.close();
});

t.test('close() in the middle kills the process and ends the session', async (t) => {
  const { pod: p, h } = await pod(t);
  const io = await openExec(p, 'c1', { ...proc, args: ['sh', '-c', 'echo started; exec sleep 300'] }, { stdin: true, stdout: true, stderr: false, tty: false });
  const first = await new Promise<string>((res) => io.stdout!.once('data', (b: Buffer) => res(b.toString())));
  t.equal(first, 'started\n');
  const pid = await execPid(join(h.dirs.bundles, 'c1'));
  // Should the test fail before it kills the process, the process still ends with it.
  t.teardown(() => void (alive(pid) && process.kill(pid, 'SIGKILL')));
  t.ok(alive(pid), 'the exec runs');
  io.close();
  io.close(); // idempotent
  await t.rejects(io.done, 'done rejects: the session was closed before the end');
  t.ok((io.stdout as Readable).destroyed, 'stdout released');
  while (alive(pid)) await new Promise((res) => setTimeout(res, 20));
  t.notOk(alive(pid), "the exec'd process itself was killed");
});

t.test('a guest that stops answering ends the session with an error, and nothing is left polling', async (t) => {
  const calls: string[] = [];
  let polls = 0;
  const poll = (_req: unknown, opts: { signal?: AbortSignal }) =>
    new Promise((_, reject) => {
      polls++;
      opts.signal?.addEventListener('abort', () => {
        polls--;
        reject(new Error('cancelled'));
      });
    });
  const agent = {
    call: async (m: string) => {
      calls.push(m);
      return m === 'ExecProcess' ? { pid: 7 } : {};
    },
    readStdout: poll,
    readStderr: poll,
    // What the client's deadline makes of a long poll the guest never answers.
    waitProcess: async () => {
      throw new DeadlineExceededError('WaitProcess: no answer within the 10000 ms deadline');
    },
  } as unknown as AgentClient;
  const io = await openExec({ id: 'p1', agent, alive: true, detached: false }, 'c1', { ...proc, args: ['sleep', '1'] }, { stdin: true, stdout: true, stderr: true, tty: false });
  await t.rejects(io.done, { code: 'DEADLINE_EXCEEDED' }, 'done rejects with the deadline error');
  await new Promise((r) => setImmediate(r));
  t.ok(calls.includes('SignalProcess'), 'the process is killed');
  t.equal(polls, 0, 'no output poll left in flight');
  t.ok((io.stdout as Readable).destroyed && (io.stderr as Readable).destroyed && (io.stdin as NodeJS.WritableStream & { destroyed: boolean }).destroyed, 'every stream released');
});
