// ReadAgentLog through the real handler, ttRPC and host client.
import t from 'tap';
import { startClient } from './harness';

t.test('ReadAgentLog serves the ring', async (t) => {
  const { h, client } = startClient(t);
  const empty = await client.readAgentLog();
  t.same([empty.lines.length, empty.next_seq, empty.dropped], [0, 0, 0], 'empty ring: no lines');
  for (let i = 0; i < 10; i++) h.deps.logRing.push(i % 2 ? 'warn' : 'info', `${'m'.repeat(1000)} ${i}`);
  const cases: Array<{ desc: string; since: number; maxBytes: number; seqs: number[]; next: number }> = [
    { desc: 'default budget (64 KiB) returns everything', since: 0, maxBytes: 0, seqs: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], next: 10 },
    { desc: 'since_seq skips older lines', since: 7, maxBytes: 0, seqs: [7, 8, 9], next: 10 },
    { desc: 'max_bytes 1 is clamped up to 4 KiB (four 1002-byte lines)', since: 0, maxBytes: 1, seqs: [0, 1, 2, 3], next: 4 },
    { desc: 'max_bytes 5000', since: 2, maxBytes: 5000, seqs: [2, 3, 4, 5], next: 6 },
    { desc: 'nothing new', since: 10, maxBytes: 0, seqs: [], next: 10 },
  ];
  for (const c of cases) {
    const r = await client.readAgentLog({ since_seq: c.since, max_bytes: c.maxBytes });
    t.same(
      r.lines.map((l) => l.seq),
      c.seqs,
      `${c.desc}: lines`,
    );
    t.equal(r.next_seq, c.next, `${c.desc}: next_seq`);
  }
  const r = await client.readAgentLog({ since_seq: 1, max_bytes: 0 });
  t.match(r.lines[0], { seq: 1, level: 'warn', msg: /^m+ 1$/ }, 'level and msg come through');
  t.ok(r.lines[0].time_unix_nano > 1.6e18, 'time in nanoseconds');
});
