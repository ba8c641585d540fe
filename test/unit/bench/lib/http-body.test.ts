import t from 'tap';
import { HttpBodyCounter } from '../../../../bench/lib/http-body';

const header = 'HTTP/1.0 200 OK\r\nContent-Length: 10\r\n\r\n';

t.test('the body is counted after the header, across chunk boundaries', async (t) => {
  const c = new HttpBodyCounter(10);
  t.notOk(c.push(Buffer.from(header.slice(0, 20))), 'header not complete');
  t.notOk(c.push(Buffer.from(`${header.slice(20)}0123`)), '4 of 10 body bytes');
  t.equal(c.body, 4);
  t.equal(c.status, 'HTTP/1.0 200 OK');
  t.ok(c.push(Buffer.from('456789')), 'all 10');
  t.ok(c.done);
});

t.test('a header split inside its blank line is still found', async (t) => {
  const c = new HttpBodyCounter(2);
  c.push(Buffer.from(`${header.slice(0, -2)}`));
  t.ok(c.push(Buffer.from('\r\nab')));
  t.equal(c.body, 2);
});

t.test('an answer other than 200 is an error, not a short count', async (t) => {
  const c = new HttpBodyCounter(1);
  t.throws(() => c.push(Buffer.from('HTTP/1.0 404 Not Found\r\n\r\n')), { message: /404/ });
});

t.test('no header within 64 KiB is an error', async (t) => {
  const c = new HttpBodyCounter(1);
  t.throws(() => c.push(Buffer.alloc(65 * 1024, 0x61)), { message: /no end of the HTTP header/ });
});
