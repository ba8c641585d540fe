// HandoffDecider: which connections are handed to nghttp2 directly, with
// exactly the client's bytes less the ACK of the listener's SETTINGS, and
// which keep the rewriter, with what it produced so far.

import t from 'tap';
import { Flag, FRAME_HEADER_LENGTH, FrameType } from '../../../../src/cri/transport/frame';
import { HandoffDecider, MAX_HELD_BYTES, type Handoff } from '../../../../src/cri/transport/handoff';
import { HpackDecoder } from '../../../../src/cri/transport/hpack/decoder';
import { TestHpackEncoder } from './hpack-test-encoder';
import { CLIENT_OPENING, frame, grpcRequestHeaders } from './raw-h2-client';

const ACK = frame(FrameType.SETTINGS, Flag.ACK, 0);
const WINDOW = frame(FrameType.WINDOW_UPDATE, 0, 0, [0, 0x0f, 0, 1]);

function request(authority: string, streamId = 1): Buffer {
  const enc = new TestHpackEncoder({ huffman: true, indexing: true });
  return frame(FrameType.HEADERS, Flag.END_HEADERS, streamId, enc.encode(grpcRequestHeaders('/runtime.v1.RuntimeService/Version', authority)));
}

/** Feeds `input` in chunks of `size` bytes; returns every decision but the waits, and how many waits came before the first. */
function feed(d: HandoffDecider, input: Buffer, size = input.length): { decisions: Handoff[]; waits: number } {
  const decisions: Handoff[] = [];
  let waits = 0;
  for (let pos = 0; pos < input.length; pos += size) {
    const h = d.push(input.subarray(pos, pos + size));
    if (h.kind === 'wait') {
      if (decisions.length === 0) waits++;
    } else decisions.push(h);
  }
  return { decisions, waits };
}

t.test('a first request nghttp2 accepts, ACK after it: direct, once the ACK is in, with the bytes less the ACK', async (t) => {
  for (const size of [1, 7, 100, 100_000]) {
    const req = request('localhost');
    const d = new HandoffDecider();
    const before = feed(d, Buffer.concat([CLIENT_OPENING, WINDOW, req]), size);
    t.same(before.decisions, [], `chunks of ${size}: no decision before the ACK`);
    const after = feed(d, ACK, size);
    t.equal(after.decisions.length, 1, `chunks of ${size}: decided with the ACK`);
    const h = after.decisions[0];
    t.equal(h.kind, 'direct');
    if (h.kind === 'direct') t.ok(h.bytes.equals(Buffer.concat([CLIENT_OPENING, WINDOW, req])), `chunks of ${size}: the client's bytes exactly, without the ACK`);
  }
});

t.test('ACK before the request, and frames after it: the ACK is cut out of the middle', async (t) => {
  const req = request('localhost');
  const input = Buffer.concat([CLIENT_OPENING, ACK, WINDOW, req]);
  for (const size of [1, 5, input.length]) {
    const { decisions } = feed(new HandoffDecider(), input, size);
    const h = decisions[0];
    t.equal(h?.kind, 'direct', `chunks of ${size}: direct`);
    if (h?.kind === 'direct') t.ok(h.bytes.equals(Buffer.concat([CLIENT_OPENING, WINDOW, req])), `chunks of ${size}: bytes less the ACK`);
  }
});

t.test('a first request that needs its authority changed keeps the rewriter, with what it produced', async (t) => {
  const sock = '/run/vmpod/vmpod.sock';
  const d = new HandoffDecider();
  const changes: string[] = [];
  const logged = new HandoffDecider(undefined, (r) => changes.push(r.from));
  const input = Buffer.concat([CLIENT_OPENING, ACK, request(sock)]);
  feed(logged, input);
  t.same(changes, [sock], 'the change is told once');
  const { decisions } = feed(d, input, 3);
  t.equal(decisions.length, 1);
  const h = decisions[0];
  t.equal(h.kind, 'rewrite');
  if (h.kind !== 'rewrite') return;
  const out = Buffer.concat(h.pending);
  t.ok(out.subarray(0, CLIENT_OPENING.length).equals(CLIENT_OPENING), 'preface and SETTINGS passed on');
  const rest = out.subarray(CLIENT_OPENING.length);
  t.equal(rest[3], FrameType.HEADERS, "the ACK of the listener's SETTINGS is not passed on: the next frame is the request");
  const fields = new HpackDecoder(4096).decode(rest.subarray(FRAME_HEADER_LENGTH, FRAME_HEADER_LENGTH + rest.readUIntBE(0, 3)), 1 << 20);
  t.equal(fields.find((x) => x.name === ':authority')?.value, '%2Frun%2Fvmpod%2Fvmpod.sock');
  // The rewriter goes on with the connection: a second ACK (of the session's own SETTINGS) is passed on.
  t.ok(Buffer.concat(h.rewriter.push(ACK)).equals(ACK), "a later ACK is the session's, passed on");
});

t.test('no decision in time, or too many bytes held: the rewriter takes over with everything so far', async (t) => {
  const d = new HandoffDecider();
  t.equal(d.push(Buffer.concat([CLIENT_OPENING, request('localhost')])).kind, 'wait', 'no ACK yet');
  const h = d.rewrite();
  t.equal(h.kind, 'rewrite');
  if (h.kind === 'rewrite') {
    t.equal(Buffer.concat(h.pending)[CLIENT_OPENING.length + 3], FrameType.HEADERS, 'the request is in what it produced');
    t.same(h.rewriter.push(ACK), [], "the late ACK of the listener's SETTINGS is dropped");
  }
  const big = new HandoffDecider();
  const ping = frame(FrameType.PING, 0, 0, Buffer.alloc(8));
  let last: Handoff = big.push(CLIENT_OPENING);
  for (let sent = 0; last.kind === 'wait' && sent <= MAX_HELD_BYTES + ping.length; sent += ping.length) last = big.push(ping);
  t.equal(last.kind, 'rewrite', `a client that sends more than ${MAX_HELD_BYTES} bytes without a request is not held further`);
});

t.test('a client that breaks HTTP/2 while undecided is refused, by name', async (t) => {
  t.throws(() => new HandoffDecider().push(Buffer.from('GET / HTTP/1.1\r\n\r\n')), /connection preface/);
  t.throws(() => new HandoffDecider().push(Buffer.concat([CLIENT_OPENING, frame(FrameType.SETTINGS, Flag.ACK, 0, Buffer.alloc(6))])), /SETTINGS ACK carries 6 bytes/);
});
