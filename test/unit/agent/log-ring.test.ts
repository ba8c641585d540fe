import t from 'tap';
import { cutLine, LogRing } from '../../../agent/src/log-ring';
import { consoleLog } from '../../../agent/src/log';
import { AGENT_LOG_LINE_CHARS } from '../../../common/agent-protocol/limits';

t.test('the ring is bounded by lines and by bytes, evicting the oldest and counting them', async (t) => {
  const cases: Array<{ desc: string; maxLines: number; maxBytes: number; push: string[]; kept: number; dropped: number }> = [
    { desc: 'under both bounds: nothing dropped', maxLines: 5, maxBytes: 100, push: ['a', 'b', 'c'], kept: 3, dropped: 0 },
    { desc: 'line bound reached first', maxLines: 2, maxBytes: 100, push: ['a', 'b', 'c', 'd'], kept: 2, dropped: 2 },
    { desc: 'byte bound reached first', maxLines: 100, maxBytes: 10, push: ['aaaa', 'bbbb', 'cccc', 'dddd'], kept: 2, dropped: 2 },
    { desc: 'one line larger than the byte bound is still kept alone', maxLines: 100, maxBytes: 3, push: ['a', 'bbbbbbb'], kept: 1, dropped: 1 },
  ];
  for (const c of cases) {
    const r = new LogRing(c.maxLines, c.maxBytes);
    for (const m of c.push) r.push('info', m);
    t.equal(r.stats.kept, c.kept, `${c.desc}: kept`);
    t.equal(r.stats.dropped, c.dropped, `${c.desc}: dropped`);
    const all = r.read(0, 1 << 20);
    t.same(
      all.lines.map((l) => l.msg),
      c.push.slice(c.push.length - c.kept),
      `${c.desc}: the newest lines are kept`,
    );
    t.equal(all.lines[0]?.seq, all.dropped, `${c.desc}: the oldest kept line has seq == dropped`);
  }
});

t.test('reads continue from next_seq and respect the byte budget', async (t) => {
  const r = new LogRing(10_000, 1 << 20);
  for (let i = 0; i < 3000; i++) r.push('warn', `line ${i}`);
  const first = r.read(0, 1 << 20);
  t.equal(first.lines.length, 1000, 'at most 1000 lines per read');
  t.equal(first.nextSeq, 1000, 'next_seq is one past the last line');
  const second = r.read(first.nextSeq, 1 << 20);
  t.equal(second.lines[0].seq, 1000, 'the next read starts where the last ended');
  const budget = r.read(0, 20);
  t.same(
    budget.lines.map((l) => l.msg),
    ['line 0', 'line 1', 'line 2'],
    'stops before the budget is exceeded',
  );
  const tiny = r.read(0, 1);
  t.equal(tiny.lines.length, 1, 'at least one line even when it exceeds the budget');
  const end = r.read(3000, 1 << 20);
  t.same([end.lines.length, end.nextSeq], [0, 3000], 'nothing new: empty, next_seq unchanged');
  const future = r.read(99_999, 1 << 20);
  t.equal(future.nextSeq, 3000, 'a since_seq from the future (agent restarted) is answered with the real next seq');
});

t.test('reading from before the oldest kept line starts at the oldest and reports the drops', async (t) => {
  const r = new LogRing(3, 1 << 20);
  for (let i = 0; i < 10; i++) r.push('info', `l${i}`);
  const got = r.read(2, 1 << 20);
  t.same(
    got.lines.map((l) => l.seq),
    [7, 8, 9],
    'the kept lines',
  );
  t.equal(got.dropped, 7, 'seven lines were evicted');
  // Many evictions compact the backing array without changing what is read.
  for (let i = 10; i < 5000; i++) r.push('info', `l${i}`);
  t.same(
    r.read(0, 1 << 20).lines.map((l) => l.msg),
    ['l4997', 'l4998', 'l4999'],
    'still the newest three after compaction',
  );
});

t.test('long lines are cut to the protocol limit without splitting a surrogate pair', async (t) => {
  const cases: Array<{ desc: string; input: string }> = [
    { desc: 'ascii', input: 'x'.repeat(5000) },
    { desc: 'astral characters', input: '😀'.repeat(3000) },
    { desc: 'exactly at the limit', input: 'y'.repeat(AGENT_LOG_LINE_CHARS) },
  ];
  for (const c of cases) {
    const out = cutLine(c.input);
    t.ok(out.length <= AGENT_LOG_LINE_CHARS, `${c.desc}: within ${AGENT_LOG_LINE_CHARS} characters`);
    t.notOk(/[\ud800-\udbff](?![\udc00-\udfff])/.test(out), `${c.desc}: no lone high surrogate`);
    if (c.input.length <= AGENT_LOG_LINE_CHARS) t.equal(out, c.input, `${c.desc}: unchanged`);
    else t.ok(out.endsWith('…'), `${c.desc}: marked as cut`);
  }
});

t.test('consoleLog writes the console line and keeps the line in the ring', async (t) => {
  const written: string[] = [];
  const ring = new LogRing();
  const log = consoleLog((l) => written.push(l), ring);
  log.info({ version: '1' }, 'vmpod-agent starting');
  log.error('plain');
  t.equal(written.length, 2, 'two console lines');
  t.match(JSON.parse(written[0]), { level: 'info', msg: 'vmpod-agent starting', version: '1' }, 'console line is JSON');
  const got = ring.read(0, 1 << 20).lines;
  t.same(
    got.map((l) => [l.level, l.msg]),
    [
      ['info', 'vmpod-agent starting {"version":"1"}'],
      ['error', 'plain'],
    ],
    'ring has level and msg with fields',
  );
  t.ok(got[0].timeUnixNano > 1.6e18, 'timestamp in nanoseconds');
});
