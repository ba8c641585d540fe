// Attach sessions against a recording fake agent: output handed out by the
// pump, the container's exit, a client that falls behind, and what stdin
// and stdin_once do when a session ends.

import t from 'tap';
import type { Readable } from 'node:stream';
import { ATTACH_BUFFER_BYTES, Attachment, type AttachTarget } from '../../../../src/sandbox/microvm/attach-stream';
import type { AgentClient } from '../../../../src/agent-client';

function target(over: Partial<AttachTarget> = {}): { t: AttachTarget; calls: Array<[string, unknown]>; exit: (code: number) => void; detached: Attachment[] } {
  const calls: Array<[string, unknown]> = [];
  const agent = { call: async (m: string, req: unknown) => void calls.push([m, req]) } as unknown as AgentClient;
  let exit!: (code: number) => void;
  const detached: Attachment[] = [];
  const t: AttachTarget = {
    pod: { id: 'p1', agent, alive: true, detached: false },
    containerId: 'c1',
    stdin: true,
    stdinOnce: false,
    tty: false,
    exited: new Promise((r) => (exit = (code) => r({ code }))),
    detach: (a) => detached.push(a),
    ...over,
  };
  return { t, calls, exit, detached };
}

const all = { stdin: true, stdout: true, stderr: true, tty: false };

async function readAll(r: Readable | undefined): Promise<string> {
  let s = '';
  for await (const b of r ?? []) s += (b as Buffer).toString();
  return s;
}

t.test('output until the container exits, then the exit code', async (t) => {
  const { t: tg, exit, detached } = target();
  const a = new Attachment(tg, all);
  a.offer('stdout', Buffer.from('out'));
  a.offer('stderr', Buffer.from('err'));
  exit(7);
  const [out, err, done] = await Promise.all([readAll(a.stdout), readAll(a.stderr), a.done]);
  t.same([out, err, done.exitCode], ['out', 'err', 7]);
  t.equal(detached.length, 1, 'the pump stops handing it output');
});

t.test('a client that falls behind is disconnected; its buffer stays bounded', async (t) => {
  const { t: tg, detached } = target();
  const a = new Attachment(tg, { ...all, stdin: false });
  const chunk = Buffer.alloc(64 << 10);
  for (let i = 0; i < (2 * ATTACH_BUFFER_BYTES) / chunk.length; i++) {
    a.offer('stdout', chunk);
    t.ok((a.stdout?.readableLength ?? 0) <= ATTACH_BUFFER_BYTES, `after chunk ${i}: at most ATTACH_BUFFER_BYTES held`, { diagnostic: false });
  }
  await t.rejects(a.done, { code: 'RESOURCE_EXHAUSTED' }, 'the session ends with RESOURCE_EXHAUSTED');
  t.equal(detached.length, 1, 'and is detached from the pump');
  t.ok(a.stdout?.destroyed, 'its stream released');
});

t.test('stdin, and what ending a session does to it', async (t) => {
  const cases = [
    { desc: 'stdin_once: closing the session closes the container stdin', stdinOnce: true, want: ['WriteStdin', 'CloseStdin'] },
    { desc: 'without stdin_once the stdin stays open for the next session', stdinOnce: false, want: ['WriteStdin'] },
  ];
  for (const c of cases) {
    const { t: tg, calls } = target({ stdinOnce: c.stdinOnce });
    const a = new Attachment(tg, all);
    await new Promise<void>((res, rej) => a.stdin!.write('x', (err) => (err ? rej(err) : res())));
    a.close();
    a.close();
    await t.rejects(a.done, `${c.desc}: done rejects after close`);
    await new Promise((r) => setImmediate(r));
    t.same(
      calls.map(([m]) => m),
      c.want,
      c.desc,
    );
    t.same(calls[0][1], { container_id: 'c1', exec_id: '', data: Buffer.from('x') }, `${c.desc}: stdin goes to the init process`);
  }
});

t.test('refusals', async (t) => {
  t.throws(() => new Attachment(target({ stdin: false }).t, all), { code: 'FAILED_PRECONDITION' }, 'stdin asked of a container created without it');
  const a = new Attachment(target().t, all);
  await t.rejects(a.resize({ width: 80, height: 24 }), { code: 'FAILED_PRECONDITION' }, 'resize without a terminal');
  a.close();
});
