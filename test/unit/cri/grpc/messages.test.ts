import t from 'tap';
import { frameMessage, MessageFramingError, MessageReader } from '../../../../src/cri/grpc/messages';

t.test('messages come back whole however the bytes are cut', async (t) => {
  const bodies = [Buffer.from('a'), Buffer.alloc(0), Buffer.alloc(70_000, 7), Buffer.from('last')];
  const wire = Buffer.concat(bodies.map(frameMessage));
  for (const cut of [1, 2, 5, 6, 4096, wire.length]) {
    const r = new MessageReader(1 << 20);
    const got: Buffer[] = [];
    for (let i = 0; i < wire.length; i += cut) got.push(...r.push(wire.subarray(i, i + cut)));
    t.same(
      got.map((b) => b.toString('hex')),
      bodies.map((b) => b.toString('hex')),
      `pieces of ${cut} bytes`,
    );
    t.ok(r.atBoundary, `pieces of ${cut}: ends between messages`);
  }
});

t.test('a stream cut inside a message is not at a boundary', async (t) => {
  const r = new MessageReader(100);
  t.same(r.push(frameMessage(Buffer.from('hello')).subarray(0, 7)), []);
  t.notOk(r.atBoundary, 'inside the body');
  const p = new MessageReader(100);
  p.push(Buffer.from([0, 0, 0]));
  t.notOk(p.atBoundary, 'inside the prefix');
});

t.test('a message over the limit is refused from its prefix, before its body is buffered', async (t) => {
  const r = new MessageReader(10);
  t.same(r.push(frameMessage(Buffer.alloc(10))).length, 1, 'at the limit: taken');
  const prefixOnly = frameMessage(Buffer.alloc(11)).subarray(0, 5);
  t.throws(() => r.push(prefixOnly), { constructor: MessageFramingError, kind: 'too-large', message: /11 bytes, more than the 10/ });
});

t.test('a compressed message is refused by name', async (t) => {
  const m = frameMessage(Buffer.from('x'));
  m[0] = 1;
  t.throws(() => new MessageReader(100).push(m), { constructor: MessageFramingError, kind: 'compressed', message: /compressed/ });
});
