import t from 'tap';
import { OutputBuffer } from '../../../agent/src/output-buffer';
import { parseFlatKeyed, parseLimit } from '../../../agent/src/cgroup';
import { pidFromState } from '../../../agent/src/oci-runtime';

t.test('bounded output: keeps the oldest bytes, counts what it drops', async (t) => {
  const b = new OutputBuffer(10);
  b.append(Buffer.from('0123456'));
  b.append(Buffer.from('789abc'));
  t.equal(b.buffered, 10, 'never more than the bound');
  const r1 = await b.read(4, 0);
  t.same([r1.data.toString(), r1.eof, r1.dropped], ['0123', false, 3], 'first read');
  b.end();
  const r2 = await b.read(100, 0);
  t.same([r2.data.toString(), r2.eof, r2.dropped], ['456789', true, 3], 'rest, then EOF');
});

t.test('long poll wakes on data', async (t) => {
  const b = new OutputBuffer(100);
  setTimeout(() => b.append(Buffer.from('late')), 20);
  const r = await b.read(100, 5000);
  t.equal(r.data.toString(), 'late', 'woken by append');
});

t.test('cgroup and OCI runtime parsers', async (t) => {
  t.same(
    [...parseFlatKeyed('low 0\noom_kill 2\nbad\nx y\n')],
    [
      ['low', 0],
      ['oom_kill', 2],
    ],
    'flat keyed',
  );
  t.same([parseLimit('max\n'), parseLimit('1048576\n'), parseLimit('')], [0, 1048576, 0], 'limits');
  const cases = [
    { desc: 'state json', s: '{"pid": 42}', want: 42 },
    { desc: 'pid zero', s: '{"pid": 0}', want: undefined },
    { desc: 'garbage', s: 'nope', want: undefined },
  ];
  for (const c of cases) t.equal(pidFromState(c.s), c.want, c.desc);
});

t.test('half full: append asks the source to hold back, and a read lets it resume', async (t) => {
  const b = new OutputBuffer(10);
  let resumed = 0;
  const resume = (): void => void resumed++;
  t.equal(b.append(Buffer.from('0123'), resume), true, 'below half: go on');
  t.equal(b.append(Buffer.from('45'), resume), false, 'half full: hold back');
  await b.read(1, 0);
  t.equal(resumed, 0, 'still at least half full');
  await b.read(1, 0);
  t.equal(resumed, 1, 'room again: resumed once');
  const r = await b.read(100, 0);
  t.same([r.data.toString(), r.dropped], ['2345', 0], 'nothing dropped');
});
