// A daemon killed mid-pull: the next start shows no partial image and
// removes partial downloads, unfinished unpacks and blobs/snapshots that no
// image names.

import t from 'tap';
import http from 'node:http';
import { fork } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createImageService } from '../../src/image';
import { silentLogger } from '../../src/log';
import { makeTar, RegistryPusher } from '../helpers/image-builder';
import { freePort, startRegistry, type RunningRegistry } from '../helpers/registry';

let reg: RunningRegistry;
let stall: http.Server;
let root: string;

/** Forwards to the registry but sends only the first half of `stallDigest` and then nothing. */
async function startStallingFront(upstream: RunningRegistry, stallDigest: () => string): Promise<{ server: http.Server; host: string }> {
  const port = await freePort();
  const server = http.createServer((req, res) => {
    const up = http.request({ host: '127.0.0.1', port: Number(upstream.host.split(':')[1]), path: req.url, method: req.method, headers: req.headers }, (ures) => {
      res.writeHead(ures.statusCode ?? 502, ures.headers);
      if (req.url?.endsWith(stallDigest())) {
        const half = Number(ures.headers['content-length']) / 2;
        let sent = 0;
        ures.on('data', (c: Buffer) => {
          if (sent < half) res.write(c.subarray(0, Math.max(0, half - sent)));
          sent += c.length;
        });
        return; // never end: the client waits until it is killed
      }
      ures.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  return { server, host: `127.0.0.1:${port}` };
}

t.before(async () => {
  reg = await startRegistry();
  root = mkdtempSync(join(tmpdir(), 'vmpod-image-restart-'));
});
t.teardown(async () => {
  stall?.closeAllConnections();
  stall?.close();
  await reg?.stop();
  rmSync(root, { recursive: true, force: true });
});

async function until(what: string, cond: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

t.test('killed mid-pull, restarted: no partial image, partial files gone', async (t) => {
  const small = await makeTar([{ name: 'small', content: 'small layer' }]);
  const big = await makeTar([{ name: 'big', content: Buffer.alloc(2 << 20, 9) }]);
  const img = await new RegistryPusher(reg).pushImage('test/restart', 'v1', [
    { tar: small, compression: 'none' },
    { tar: big, compression: 'none' },
  ]);
  const front = await startStallingFront(reg, () => img.layerDigests[1]);
  stall = front.server;
  const registries = { [front.host]: { insecure: true, mirrors: [] } };
  const child = fork(join(__dirname, '../helpers/image-pull-child.js'), [root, JSON.stringify(registries), `${front.host}/test/restart:v1`], {
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    execArgv: [],
  });
  let exited = false;
  child.on('exit', () => (exited = true));
  t.teardown(() => {
    if (!exited) process.kill(child.pid!, 'SIGKILL');
  });
  const dir = join(root, 'image');
  await until('the first layer snapshot and a partial download of the second', () => {
    if (exited) throw new Error('the pull child exited early');
    const snaps = existsSync(join(dir, 'snapshots')) ? readdirSync(join(dir, 'snapshots')).filter((n) => !n.startsWith('.')) : [];
    const ingest = existsSync(join(dir, 'ingest')) ? readdirSync(join(dir, 'ingest')) : [];
    return snaps.length === 1 && ingest.length === 1 && statSync(join(dir, 'ingest', ingest[0])).size > 0;
  });
  process.kill(child.pid!, 'SIGKILL');
  await until('the child to exit', () => exited);

  // What else a kill can leave: an unfinished unpack and a half-written record.
  mkdirSync(join(dir, 'snapshots', '.tmp-deadbeef', 'fs'), { recursive: true });
  writeFileSync(join(dir, 'images', `.${'0'.repeat(64)}.json.tmp-12345`), '{"id":');
  mkdirSync(join(dir, 'containers', 'no-lease', 'upper'), { recursive: true });

  const svc = await createImageService({ root, registries: { [reg.host]: { insecure: true, mirrors: [] } }, log: silentLogger });
  t.same(svc.list(), [], 'no image record');
  t.same(readdirSync(join(dir, 'ingest')), [], 'partial download removed');
  t.same(readdirSync(join(dir, 'snapshots')), [], 'orphan snapshot and unfinished unpack removed');
  t.same(readdirSync(join(dir, 'images')), [], 'temp record file removed');
  t.same(await svc.content.list(), [], 'orphan blobs removed');
  t.same(readdirSync(join(dir, 'containers')), [], 'container dir without a lease removed');
  const rec = await svc.pull(`${reg.host}/test/restart:v1`, null);
  t.equal(rec.id, img.configDigest, 'the image pulls cleanly after restart');
});

t.test('transient failures are retried: HTTP 503, then a connection cut mid-blob', async (t) => {
  const tarB = await makeTar([{ name: 'flaky', content: Buffer.alloc(1 << 20, 5) }]);
  const img = await new RegistryPusher(reg).pushImage('test/flaky', 'v1', [{ tar: tarB, compression: 'none' }]);
  const seen = new Map<string, number>();
  const port = await freePort();
  const server = http.createServer((req, res) => {
    const n = (seen.get(req.url ?? '') ?? 0) + 1;
    seen.set(req.url ?? '', n);
    const isLayer = req.url?.endsWith(img.layerDigests[0]);
    if (isLayer && n === 1) {
      res.writeHead(503).end('try again');
      return;
    }
    const up = http.request({ host: '127.0.0.1', port: Number(reg.host.split(':')[1]), path: req.url, method: req.method, headers: req.headers }, (ures) => {
      res.writeHead(ures.statusCode ?? 502, ures.headers);
      if (isLayer && n === 2) {
        ures.once('data', (c: Buffer) => {
          res.write(c);
          res.socket?.destroy();
        });
        return;
      }
      ures.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  const svc = await createImageService({ root: mkdtempSync(join(root, 'flaky-')), registries: { [`127.0.0.1:${port}`]: { insecure: true, mirrors: [] } }, log: silentLogger });
  const rec = await svc.pull(`127.0.0.1:${port}/test/flaky:v1`, null);
  t.equal(rec.id, img.configDigest, 'pulled despite the failures');
  t.equal(seen.get(`/v2/test/flaky/blobs/${img.layerDigests[0]}`), 3, 'the layer took three requests');
});
