// The pure parts of the protocols: WebSocket channel framing and protocol
// choice, the resize stream, the status on the error stream.

import t from 'tap';
import { ResizeDecoder } from '../../../src/streaming/resize';
import { encodeStatus, exitCodeStatus, internalErrorStatus, successStatus } from '../../../src/streaming/status';
import { decodeFrame, encodeFrame, offeredProtocols, REMOTE_COMMAND_WS_PROTOCOLS, selectProtocol } from '../../../src/streaming/ws/frames';

const v5 = selectProtocol(['v5.channel.k8s.io'], REMOTE_COMMAND_WS_PROTOCOLS)!;
const b64 = selectProtocol(['base64.channel.k8s.io'], REMOTE_COMMAND_WS_PROTOCOLS)!;
const v4 = selectProtocol(['v4.channel.k8s.io'], REMOTE_COMMAND_WS_PROTOCOLS)!;

t.test('protocol choice follows the client order; none offered is binary', async (t) => {
  const cases = [
    { desc: 'no offer', offered: [], want: '' },
    { desc: 'client order wins', offered: ['v4.channel.k8s.io', 'v5.channel.k8s.io'], want: 'v4.channel.k8s.io' },
    { desc: 'unknown skipped', offered: ['x', 'v4.base64.channel.k8s.io'], want: 'v4.base64.channel.k8s.io' },
    { desc: 'nothing known', offered: ['x'], want: null },
  ];
  for (const c of cases) t.equal(selectProtocol(c.offered, REMOTE_COMMAND_WS_PROTOCOLS)?.name ?? null, c.want, c.desc);
  t.same(offeredProtocols(' v5.channel.k8s.io, v4.channel.k8s.io ,'), ['v5.channel.k8s.io', 'v4.channel.k8s.io']);
  t.equal(selectProtocol(['v5.channel.k8s.io'], ['v4.channel.k8s.io']), null, 'only what the endpoint supports');
});

t.test('frames: binary and base64 round trip; the v5 close signal', async (t) => {
  t.same([...(encodeFrame(v4, 2, Buffer.from('hi')) as Buffer)], [2, 104, 105]);
  t.equal(encodeFrame(b64, 1, Buffer.from('hi')), '1aGk=');
  t.same(decodeFrame(b64, Buffer.from('0aGk=')), { type: 'data', channel: 0, data: Buffer.from('hi') });
  t.same(decodeFrame(v5, Buffer.from([255, 0])), { type: 'close', channel: 0 });
  t.same(decodeFrame(v4, Buffer.from([255, 0])), { type: 'data', channel: 255, data: Buffer.from([0]) }, 'no close signal before v5');
  t.throws(() => decodeFrame(v5, Buffer.from([255, 0, 1])), /exactly one channel byte/);
  t.same(decodeFrame(v4, Buffer.alloc(0)), { type: 'empty' });
});

t.test('resize: objects across chunks, whitespace between, malformed refused', async (t) => {
  const d = new ResizeDecoder();
  t.same(d.push('{"Width":1,'), []);
  t.same(d.push('"Height":2}\n{"Width":3,"Height":4}{'), [
    { width: 1, height: 2 },
    { width: 3, height: 4 },
  ]);
  t.same(d.push('"Height":9,"x":"}{"}'), [{ width: 0, height: 9 }], 'braces inside strings do not split');
  t.throws(() => new ResizeDecoder().push('x'), /unexpected/);
  t.throws(() => new ResizeDecoder().push('{"Width":-1,"Height":2}'), /integers/);
  t.throws(() => new ResizeDecoder().push('{"Width":"' + 'a'.repeat(5000)), /longer than/);
});

t.test('status: v4 JSON as apimachinery writes it; pre-v4 only failure text', async (t) => {
  t.same(JSON.parse(encodeStatus(exitCodeStatus(3, ['sh']), true)!.toString()), {
    metadata: {},
    status: 'Failure',
    message: 'command terminated with non-zero exit code: error executing command ["sh"], exit code 3',
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: '3' }] },
  });
  t.equal(encodeStatus(successStatus(), false), null);
  t.equal(encodeStatus(internalErrorStatus('boom'), false)?.toString(), 'Internal error occurred: boom');
  t.equal(internalErrorStatus('boom').code, 500);
});
