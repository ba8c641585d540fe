import t from 'tap';
import { acceptableAuthority, isAuthorityField } from '../../../../src/cri/transport/authority';

// Values are latin1 strings: one char per byte, as the HPACK decoder hands them over.
const utf8 = (s: string) => Buffer.from(s, 'utf8').toString('latin1');

t.test('what each kind of client sends becomes something nghttp2 accepts, keeping the information', async (t) => {
  const cases: Array<{ desc: string; sent: string; passedOn: string }> = [
    { desc: 'socket path (Go gRPC, kubelet/crictl <= 1.29)', sent: '/run/vmpod/vmpod.sock', passedOn: '%2Frun%2Fvmpod%2Fvmpod.sock' },
    { desc: 'percent-encoded socket path (grpc-go unix resolver): unchanged', sent: '%2Frun%2Fvmpod%2Fvmpod.sock', passedOn: '%2Frun%2Fvmpod%2Fvmpod.sock' },
    { desc: 'localhost (kubelet 1.30+): unchanged', sent: 'localhost', passedOn: 'localhost' },
    { desc: 'empty (some UDS clients): what kubelet 1.30+ sends', sent: '', passedOn: 'localhost' },
    { desc: 'a whole unix: URI', sent: 'unix:///run/vmpod/vmpod.sock', passedOn: 'unix:%2F%2F%2Frun%2Fvmpod%2Fvmpod.sock' },
    { desc: 'host:port and IPv6 literals: unchanged', sent: '[::1]:10010', passedOn: '[::1]:10010' },
    { desc: 'userinfo "@" is left for nghttp2 to judge', sent: 'user@host', passedOn: 'user@host' },
    { desc: 'a "%" in a value that is rewritten is encoded too, so decoding gives the original back', sent: '/tmp/a%2Fb.sock', passedOn: '%2Ftmp%2Fa%252Fb.sock' },
    { desc: 'an inner space', sent: '/tmp/my dir/x.sock', passedOn: '%2Ftmp%2Fmy%20dir%2Fx.sock' },
    { desc: 'non-ASCII bytes (a UTF-8 path)', sent: utf8('/run/é.sock'), passedOn: '%2Frun%2F%C3%A9.sock' },
    { desc: 'a query-like "?" and "#"', sent: '/x?y#z', passedOn: '%2Fx%3Fy%23z' },
  ];
  for (const c of cases) {
    t.equal(acceptableAuthority(c.sent), c.passedOn, c.desc);
    if (c.sent !== '' && c.passedOn !== c.sent) t.equal(Buffer.from(decodeURIComponent(c.passedOn), 'utf8').toString('latin1'), c.sent, `${c.desc}: percent-decoding gives back what was sent`);
  }
});

t.test('values nghttp2 refuses for another reason are left for it to refuse', async (t) => {
  const cases: Array<{ desc: string; sent: string }> = [
    { desc: 'a CR (header injection)', sent: '/run/x.sock\r' },
    { desc: 'a NUL', sent: '/run/x\u0000.sock' },
    { desc: 'a DEL', sent: '/run/x\u007f.sock' },
    { desc: 'a tab', sent: '/run/x\t.sock' },
    { desc: 'a leading space', sent: ' /run/x.sock' },
    { desc: 'a trailing space', sent: '/run/x.sock ' },
  ];
  for (const c of cases) t.equal(acceptableAuthority(c.sent), c.sent, c.desc);
});

t.test('only :authority and host are authority fields', async (t) => {
  const cases: Array<[string, boolean]> = [
    [':authority', true],
    ['host', true],
    [':path', false],
    ['Host', false],
    ['x-forwarded-host', false],
  ];
  for (const [name, is] of cases) t.equal(isAuthorityField(name), is, name);
});
