import t from 'tap';
import { AgentUnavailableError, type AgentClient } from '../../../../src/agent-client';
import { pumpOutput } from '../../../../src/sandbox/microvm/output-pump';

type Step = { data?: string; eof?: boolean; dropped?: number } | Error;

function fakeAgent(steps: Step[], isClosed = false): { agent: AgentClient; calls: () => number } {
  let n = 0;
  const read = async () => {
    const s = steps[n++];
    if (s === undefined) throw new Error('no more steps');
    if (s instanceof Error) throw s;
    return { data: Buffer.from(s.data ?? ''), eof: s.eof ?? false, dropped_bytes: s.dropped ?? 0 };
  };
  return { agent: { readStdout: read, readStderr: read, isClosed } as unknown as AgentClient, calls: () => n };
}

t.test('output pump', async (t) => {
  const cases: { desc: string; steps: Step[]; want: string; dropped: number[]; calls: number }[] = [
    { desc: 'chunks until EOF', steps: [{ data: 'a' }, { data: '' }, { data: 'b', eof: true }], want: 'ab', dropped: [], calls: 3 },
    { desc: 'a lost connection is retried', steps: [{ data: 'a' }, new AgentUnavailableError('gone'), { data: 'b', eof: true }], want: 'ab', dropped: [], calls: 3 },
    { desc: 'any other error ends the stream', steps: [{ data: 'a' }, new Error('unknown process'), { data: 'never' }], want: 'a', dropped: [], calls: 2 },
    { desc: 'dropped bytes reported as increments', steps: [{ data: 'a', dropped: 5 }, { dropped: 5 }, { dropped: 12, eof: true }], want: 'a', dropped: [5, 7], calls: 3 },
  ];
  for (const c of cases) {
    const { agent, calls } = fakeAgent(c.steps);
    let out = '';
    const dropped: number[] = [];
    await pumpOutput({ agent, containerId: 'c1', execId: '', stream: 'stdout', sink: (b) => void (out += b.toString()), onDropped: (n) => dropped.push(n), stopped: () => false });
    t.equal(out, c.want, `${c.desc}: output`);
    t.same(dropped, c.dropped, `${c.desc}: dropped`);
    t.equal(calls(), c.calls, `${c.desc}: calls`);
  }
});

t.test('a stopped pump makes no call', async (t) => {
  const { agent, calls } = fakeAgent([{ data: 'x' }]);
  await pumpOutput({ agent, containerId: 'c1', execId: '', stream: 'stderr', sink: () => undefined, stopped: () => true });
  t.equal(calls(), 0);
});

t.test('a sink that returns a promise holds the next read back (backpressure)', async (t) => {
  const { agent, calls } = fakeAgent([{ data: 'a' }, { data: 'b' }, { data: 'c', eof: true }]);
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const seen: string[] = [];
  const done = pumpOutput({
    agent,
    containerId: 'c1',
    execId: '',
    stream: 'stdout',
    sink: (b) => {
      seen.push(b.toString());
      return seen.length === 1 ? gate : undefined;
    },
    stopped: () => false,
  });
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  t.equal(calls(), 1, 'no second read while the sink is busy');
  release();
  await done;
  t.same(seen, ['a', 'b', 'c'], 'then everything');
});

t.test('a closed client is not retried: the stream ends with its error', async (t) => {
  const { agent, calls } = fakeAgent([new AgentUnavailableError('agent client is closed'), { data: 'never' }], true);
  const end = await pumpOutput({ agent, containerId: 'c1', execId: '', stream: 'stdout', sink: () => undefined, stopped: () => false });
  t.equal(end.end, 'error');
  t.equal(calls(), 1);
});
