import t from 'tap';
import { silentLogger } from '../../../src/log';
import { MetricsServer, parseAddress } from '../../../src/metrics/server';

t.test('parseAddress', async (t) => {
  const ok: [string, { host: string; port: number }][] = [
    ['127.0.0.1:9464', { host: '127.0.0.1', port: 9464 }],
    ['[::1]:9464', { host: '::1', port: 9464 }],
    ['node.local:0', { host: 'node.local', port: 0 }],
  ];
  for (const [addr, want] of ok) t.same(parseAddress(addr), want, addr);
  for (const bad of ['127.0.0.1', ':9464', '::1:9464', '127.0.0.1:70000', '127.0.0.1:x']) t.throws(() => parseAddress(bad), { name: 'InvalidArgumentError' }, `refuses ${bad}`);
});

t.test('serves GET /metrics only, and closes with keep-alive clients', async (t) => {
  let scrapes = 0;
  let fail = false;
  const server = new MetricsServer(
    {
      scrape: async () => {
        scrapes++;
        if (fail) throw new Error('collector broke');
        return { body: 'vmpod_up 1\n', contentType: 'text/plain; version=0.0.4; charset=utf-8' };
      },
    },
    silentLogger,
  );
  const { port } = await server.listen('127.0.0.1:0');
  const url = `http://127.0.0.1:${port}`;
  const res = await fetch(`${url}/metrics`);
  t.equal(res.status, 200);
  t.equal(await res.text(), 'vmpod_up 1\n', 'the scrape body');
  t.equal((await fetch(`${url}/`)).status, 404, 'other paths: 404');
  t.equal((await fetch(`${url}/metrics`, { method: 'POST' })).status, 405, 'other methods: 405');
  fail = true;
  t.equal((await fetch(`${url}/metrics`)).status, 500, 'a failing collector: 500, the server stays up');
  t.equal(scrapes, 2, 'only GET /metrics scrapes');
  // fetch keeps its connection alive: close must not wait for it.
  await server.close();
  await t.rejects(fetch(`${url}/metrics`), 'closed');
  await server.close();
  t.pass('close is idempotent');
});
