// conmon's attach protocol as vmpod speaks it: output packets tagged with
// conmon's stream ids, stdin cut into packets conmon reads whole, and the
// resize line for its ctl FIFO.

import t from 'tap';
import { InvalidArgumentError } from '../../../../common/errors';
import { ATTACH_WRITE_MAX, parseAttachPacket, resizeMessage, stdinPackets } from '../../../../src/sandbox/runc/attach-framing';

t.test('output packets: the first byte names the stream', async (t) => {
  t.same(parseAttachPacket(Buffer.from('\x02hello\n')), { stream: 'stdout', data: Buffer.from('hello\n') }, '2 is stdout');
  t.same(parseAttachPacket(Buffer.from('\x03oops\n')), { stream: 'stderr', data: Buffer.from('oops\n') }, '3 is stderr');
  t.same(parseAttachPacket(Buffer.from('\x01x')), { stream: 'unknown', id: 1 }, 'stdin is never sent to a client');
  t.same(parseAttachPacket(Buffer.from('\x02')), { stream: 'stdout', data: Buffer.alloc(0) }, 'an empty chunk');
  t.equal(parseAttachPacket(Buffer.alloc(0)), null, 'an empty packet');
});

t.test('stdin packets: no longer than conmon reads at once, nothing lost', async (t) => {
  t.same(stdinPackets(Buffer.from('abc')), [Buffer.from('abc')], 'short: one packet');
  const big = Buffer.alloc(ATTACH_WRITE_MAX * 2 + 5, 7);
  const parts = stdinPackets(big);
  t.same(
    parts.map((p) => p.length),
    [ATTACH_WRITE_MAX, ATTACH_WRITE_MAX, 5],
    'cut at the maximum',
  );
  t.same(Buffer.concat(parts), big, 'in order');
  t.same(stdinPackets(Buffer.alloc(0)), [], 'nothing to send');
});

t.test('resize line for the ctl FIFO: type 1, height then width', async (t) => {
  t.equal(resizeMessage({ width: 100, height: 40 }), '1 40 100\n', 'as conmon scans it');
  t.equal(resizeMessage({ width: 5000, height: 40 }), '1 40 1000\n', 'clamped to what conmon takes');
  t.throws(() => resizeMessage({ width: -1, height: 40 }), InvalidArgumentError, 'negative');
  t.throws(() => resizeMessage({ width: 1, height: 70000 }), InvalidArgumentError, 'beyond a terminal');
});
