// The admin socket's request validation and framing (src/admin/protocol.ts).

import t from 'tap';
import { InvalidArgumentError } from '../../../common/errors';
import { DEFAULT_CONSOLE_BYTES, encodeRequest, encodeResponse, MAX_CONSOLE_BYTES, MAX_REQUEST_BYTES, parseRequest, parseResponse } from '../../../src/admin/protocol';

const req = (o: Record<string, unknown>) => JSON.stringify({ v: 1, ...o });

t.test('valid requests parse, with defaults', async (t) => {
  t.same(parseRequest(req({ cmd: 'pods' })), { cmd: 'pods' });
  t.same(parseRequest(req({ cmd: 'vm', pod: 'ab12' })), { cmd: 'vm', pod: 'ab12' });
  t.same(parseRequest(req({ cmd: 'console', pod: 'ab' })), { cmd: 'console', pod: 'ab', bytes: DEFAULT_CONSOLE_BYTES }, 'console bytes default');
  t.same(parseRequest(req({ cmd: 'console', pod: 'ab', bytes: 10 })), { cmd: 'console', pod: 'ab', bytes: 10 });
  t.same(parseRequest(req({ cmd: 'agent-log', pod: 'ab', sinceSeq: 5 })), { cmd: 'agent-log', pod: 'ab', sinceSeq: 5 });
  t.same(parseRequest(req({ cmd: 'agent-log', pod: 'ab' })), { cmd: 'agent-log', pod: 'ab', sinceSeq: 0 });
});

t.test('what the client encodes, the server parses', async (t) => {
  for (const r of [{ cmd: 'pods' }, { cmd: 'vm', pod: 'f00' }, { cmd: 'console', pod: 'f00', bytes: 99 }, { cmd: 'agent-log', pod: 'f00', sinceSeq: 3 }] as const) {
    const line = encodeRequest(r);
    t.ok(line.endsWith('\n') && !line.slice(0, -1).includes('\n'), `${r.cmd}: one line`);
    t.same(parseRequest(line.slice(0, -1)), r, `${r.cmd}: round trip`);
  }
});

t.test('bad requests are refused, naming what is wrong', async (t) => {
  const cases: [string, string, RegExp][] = [
    ['not JSON', 'pods', /^request: not a JSON object/],
    ['an array', '[1]', /^request: not a JSON object/],
    ['null', 'null', /^request: not a JSON object/],
    ['no version', JSON.stringify({ cmd: 'pods' }), /^v: this daemon speaks admin protocol 1/],
    ['another version', JSON.stringify({ v: 2, cmd: 'pods' }), /^v: /],
    ['unknown command', req({ cmd: 'shell', pod: 'ab' }), /^cmd: unknown command "shell"; known: pods, vm, console, agent-log, debug/],
    ['command not a string', req({ cmd: 7 }), /^cmd: unknown command 7/],
    ['prototype key as command', req({ cmd: 'constructor' }), /^cmd: unknown command "constructor"/],
    ['no pod', req({ cmd: 'vm' }), /^pod: must be a pod sandbox id/],
    ['pod not hex', req({ cmd: 'vm', pod: '../x' }), /^pod: /],
    ['pod upper case', req({ cmd: 'vm', pod: 'ABC' }), /^pod: /],
    ['pod empty', req({ cmd: 'vm', pod: '' }), /^pod: /],
    ['pod too long', req({ cmd: 'vm', pod: 'a'.repeat(65) }), /^pod: /],
    ['pod a number', req({ cmd: 'vm', pod: 12 }), /^pod: /],
    ['extra field', req({ cmd: 'pods', pod: 'ab' }), /^pod: not a field of "pods"/],
    ['bytes on vm', req({ cmd: 'vm', pod: 'ab', bytes: 1 }), /^bytes: not a field of "vm"/],
    ['bytes zero', req({ cmd: 'console', pod: 'ab', bytes: 0 }), /^bytes: must be an integer from 1 to/],
    ['bytes over the cap', req({ cmd: 'console', pod: 'ab', bytes: MAX_CONSOLE_BYTES + 1 }), /^bytes: /],
    ['bytes fractional', req({ cmd: 'console', pod: 'ab', bytes: 1.5 }), /^bytes: /],
    ['bytes a string', req({ cmd: 'console', pod: 'ab', bytes: '10' }), /^bytes: /],
    ['sinceSeq negative', req({ cmd: 'agent-log', pod: 'ab', sinceSeq: -1 }), /^sinceSeq: /],
    ['too long', req({ cmd: 'pods', pad: 'x'.repeat(MAX_REQUEST_BYTES) }), /^request: longer than 4096 bytes/],
  ];
  for (const [desc, line, msg] of cases) {
    t.throws(() => parseRequest(line), InvalidArgumentError, desc);
    t.throws(() => parseRequest(line), { message: msg }, `${desc}: message`);
  }
});

t.test('responses: what the server encodes, the client parses; anything else is refused', async (t) => {
  const ok = { ok: true as const, result: { pods: [] } };
  t.same(parseResponse(encodeResponse(ok).trim()), ok);
  const err = { ok: false as const, error: { code: 'NOT_FOUND', message: 'gone' } };
  t.same(parseResponse(encodeResponse(err).trim()), err);
  t.throws(() => parseResponse('{"ok":false}'), /not an admin response/);
  t.throws(() => parseResponse('"hello"'), /not a JSON object/);
  t.throws(() => parseResponse('SSH-2.0-OpenSSH'), SyntaxError);
});
