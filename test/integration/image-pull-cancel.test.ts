// A PullImage whose client deadline passes stops its download and its
// unpack: the blob's HTTP request is aborted, the partial download and the
// half-unpacked snapshot are removed, and the image root is back to where it
// was. Work another client still waits for is not hurt by the first one's
// deadline: it completes. Daemon shutdown (the service's close) stops a pull
// the same way. A front between vmpod and Debian's docker-registry holds the
// layer's body half-sent until the test lets it go, so "mid-download" is a
// state the test reaches, not a guess about speed.

import t, { type Test } from 'tap';
import http from 'node:http';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status, type ServiceError } from '@grpc/grpc-js';
import { CancelledError, DeadlineExceededError } from '../../common/errors';
import { imageHandlers } from '../../src/cri/image';
import { createCriServer } from '../../src/cri/server';
import { createImageService, type ImageService } from '../../src/image';
import type { PullOutcome } from '../../src/image/service';
import { dirUsage } from '../../src/image/usage';
import { silentLogger } from '../../src/log';
import { criClient, type CriClient } from '../helpers/cri-client';
import { startDaemon } from '../helpers/daemon';
import { makeTar, RegistryPusher, sha256, type PushedImage, type TarEntry } from '../helpers/image-builder';
import { freePort, startRegistry, type RunningRegistry } from '../helpers/registry';
import { serveCriOn } from '../helpers/serve-cri';

/** Enough small files that unpacking them takes seconds (each is a few syscalls), in a few MiB of gzip. */
const FILES = 20_000;

interface BlobRequest {
  path: string;
  /** The client closed the connection before the whole body was sent. */
  aborted: boolean;
  finished: boolean;
}

/** A front that forwards to the registry and sends half of each blob it is told to hold, then waits to be let go. */
class HoldingFront {
  server!: http.Server;
  host = '';
  readonly blobs: BlobRequest[] = [];
  private readonly holds = new Map<string, { release: () => void; released: Promise<void>; onHeld: () => void }>();

  constructor(private readonly upstream: RunningRegistry) {}

  async start(): Promise<void> {
    const port = await freePort();
    this.host = `127.0.0.1:${port}`;
    this.server = http.createServer((req, res) => this.serve(req, res));
    await new Promise<void>((r) => this.server.listen(port, '127.0.0.1', () => r()));
  }

  /** Hold `digest`'s body half-way until `letGo` (resolves when a request for it is held). */
  hold(digest: string): Promise<void> {
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    return new Promise<void>((onHeld) => this.holds.set(digest, { release, released, onHeld }));
  }

  /** Let `digest` (default: every held blob) go on. */
  letGo(digest?: string): void {
    for (const [d, h] of [...this.holds]) {
      if (digest !== undefined && d !== digest) continue;
      this.holds.delete(d);
      h.release();
    }
  }

  /** The held request for `digest`. */
  request(digest: string): BlobRequest | undefined {
    return this.blobs.find((b) => b.path.endsWith(`/blobs/${digest}`));
  }

  private serve(req: http.IncomingMessage, res: http.ServerResponse): void {
    const up = http.request({ host: '127.0.0.1', port: Number(this.upstream.host.split(':')[1]), path: req.url, method: req.method, headers: req.headers }, (ures) => {
      const digest = req.method === 'GET' ? /\/blobs\/(sha256:[a-f0-9]{64})$/.exec(req.url ?? '')?.[1] : undefined;
      const hold = digest ? this.holds.get(digest) : undefined;
      if (!hold) {
        res.writeHead(ures.statusCode ?? 502, ures.headers);
        ures.pipe(res);
        return;
      }
      const rec: BlobRequest = { path: req.url ?? '', aborted: false, finished: false };
      this.blobs.push(rec);
      res.on('close', () => (rec.aborted = !res.writableFinished));
      const chunks: Buffer[] = [];
      ures.on('data', (c: Buffer) => chunks.push(c));
      ures.on('end', () => {
        const body = Buffer.concat(chunks);
        res.writeHead(ures.statusCode ?? 502, ures.headers);
        res.write(body.subarray(0, body.length >> 1));
        hold.onHeld();
        void hold.released.then(() => {
          if (res.destroyed) return;
          res.end(body.subarray(body.length >> 1), () => (rec.finished = true));
        });
      });
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  }
}

let reg: RunningRegistry;
let front: HoldingFront;
let img: PushedImage;
/** The many-files layer's tar. */
let bigTar: Buffer;
let base: string;
let svc: ImageService;
const clients: CriClient[] = [];
let stopServer: () => Promise<void>;
let sock: string;
let ref: string;
/** Resolved by the service's report of each pull's end (after its clean-up and GC). */
let pullEnded: ((o: PullOutcome) => void) | undefined;

function nextPullEnd(): Promise<PullOutcome> {
  return new Promise((r) => (pullEnded = r));
}

t.before(async () => {
  reg = await startRegistry();
  const entries: TarEntry[] = [{ name: 'f/' }];
  for (let i = 0; i < FILES; i++) entries.push({ name: `f/${i}`, content: 'x' });
  bigTar = await makeTar(entries);
  img = await new RegistryPusher(reg).pushImage('test/cancel', 'v1', [{ tar: bigTar, compression: 'gzip' }]);
  front = new HoldingFront(reg);
  await front.start();
  ref = `${front.host}/test/cancel:v1`;
  base = mkdtempSync(join(tmpdir(), 'vmpod-image-cancel-'));
  svc = await createImageService({ root: join(base, 'root'), registries: { [front.host]: { insecure: true, mirrors: [] } }, log: silentLogger, onPull: (o) => pullEnded?.(o) });
  const { server } = createCriServer({ runtime: {}, image: imageHandlers(svc) }, silentLogger);
  sock = join(base, 'cri.sock');
  stopServer = await serveCriOn(server, sock);
});
t.teardown(async () => {
  front?.letGo();
  for (const c of clients) c.close();
  await stopServer?.();
  await svc?.close();
  await new Promise<void>((r) => (front?.server ? front.server.close(() => r()) : r()));
  front?.server.closeAllConnections();
  await reg?.stop();
  rmSync(base, { recursive: true, force: true });
});

function client(): CriClient {
  const c = criClient(sock);
  clients.push(c);
  return c;
}

const imageDir = (): string => join(base, 'root', 'image');
const ingestFiles = (): string[] => readdirSync(join(imageDir(), 'ingest'));
const unpackTemps = (): string[] => readdirSync(join(imageDir(), 'snapshots')).filter((n) => n.startsWith('.tmp-'));

async function expectCode(t: Test, p: Promise<unknown>, code: status, what: string): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: ServiceError) => e,
  );
  t.equal(err?.code, code, what);
}

/** Wait until `cond` holds or `ms` passed (the assertion after it says which). */
async function until(cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
}

async function leftNothing(t: Test, before: { bytes: number; inodes: number }): Promise<void> {
  t.same(ingestFiles(), [], 'no partial download left in ingest/');
  t.same(unpackTemps(), [], 'no temp unpack dir left');
  t.same(await svc.snapshots.list(), [], 'no snapshot kept');
  t.same(await svc.content.list(), [], 'no blob kept (manifest, config and layer collected)');
  t.same(await dirUsage(imageDir()), before, 'the image root uses what it used before the pull');
}

t.test('a deadline mid-download aborts the blob request and removes the partial file', async (t) => {
  const before = await dirUsage(imageDir());
  const held = front.hold(img.layerDigests[0]);
  const ended = nextPullEnd();
  const pull = client().image.PullImage({ image: { image: ref } }, 4000);
  await held;
  // The front has sent half the body; vmpod writes what reached it (well before the deadline).
  await until(() => ingestFiles().length === 1, 3000);
  t.equal(ingestFiles().length, 1, 'the layer is half downloaded into ingest/ when the deadline passes');
  await expectCode(t, pull, status.DEADLINE_EXCEEDED, 'the client gets DEADLINE_EXCEEDED');
  t.match(await ended, { ok: false }, 'the pull ended as failed');
  t.equal(front.blobs.length, 1, 'one blob request');
  t.ok(front.blobs[0].aborted, 'the blob request was aborted mid-body (the download stopped, not just the answer)');
  front.letGo();
  await leftNothing(t, before);
});

t.test('a deadline mid-unpack stops the unpack and removes its temp dir', async (t) => {
  front.blobs.length = 0;
  const before = await dirUsage(imageDir());
  const held = front.hold(img.layerDigests[0]);
  const ended = nextPullEnd();
  const deadlineMs = 6000;
  const started = Date.now();
  const pull = client().image.PullImage({ image: { image: ref } }, deadlineMs);
  await held;
  // The rest of the blob arrives at once; the unpack of FILES files then takes seconds, so this deadline falls inside it.
  await new Promise((r) => setTimeout(r, Math.max(0, started + deadlineMs - 1000 - Date.now())));
  front.letGo();
  const err = await pull.then(
    () => undefined,
    (e: ServiceError) => e,
  );
  const midUnpack = unpackTemps().length === 1 && (await svc.snapshots.list()).length === 0;
  t.equal(err?.code, status.DEADLINE_EXCEEDED, 'the client gets DEADLINE_EXCEEDED');
  t.ok(midUnpack, 'the deadline passed mid-unpack: a temp unpack dir, no snapshot yet');
  t.match(await ended, { ok: false }, 'the pull ended as failed');
  t.ok(front.blobs[0]?.finished, 'the download itself had completed');
  await leftNothing(t, before);
});

t.test("another client still waiting is not hurt by the first one's deadline, mid-download or mid-unpack", async (t) => {
  for (const phase of ['download', 'unpack'] as const) {
    front.blobs.length = 0;
    const held = front.hold(img.layerDigests[0]);
    const deadlineMs = phase === 'download' ? 3000 : 6000;
    const started = Date.now();
    const first = client().image.PullImage({ image: { image: ref } }, deadlineMs);
    const second = client().image.PullImage({ image: { image: ref } }, 120_000);
    await held;
    if (phase === 'unpack') {
      await new Promise((r) => setTimeout(r, Math.max(0, started + deadlineMs - 1000 - Date.now())));
      front.letGo();
    }
    await expectCode(t, first, status.DEADLINE_EXCEEDED, `${phase}: the first client gets DEADLINE_EXCEEDED`);
    if (phase === 'unpack') t.equal(unpackTemps().length, 1, 'unpack: the first deadline passed mid-unpack');
    front.letGo();
    const res = await second;
    t.equal(res.image_ref, img.configDigest, `${phase}: the second client's pull completes`);
    t.equal(front.blobs.length, 1, `${phase}: one download served both`);
    t.notOk(front.blobs[0].aborted, `${phase}: it was not aborted`);
    t.same(unpackTemps(), [], `${phase}: no temp unpack dir left`);
    await client().image.RemoveImage({ image: { image: ref } });
    t.same(await svc.snapshots.list(), [], `${phase}: removed again for what follows`);
  }
});

t.test('a pull that fails stops its other downloads at once when nobody else waits for them', async (t) => {
  front.blobs.length = 0;
  const before = await dirUsage(imageDir());
  // Layer 0 is small and its diff_id wrong, so its unpack fails; layer 1 (the many-files one) is held half-sent.
  const bad = await new RegistryPusher(reg).pushImage(
    'test/fails',
    'v1',
    [
      { tar: await makeTar([{ name: 'a', content: 'a' }]), compression: 'gzip' },
      { tar: bigTar, compression: 'gzip' },
    ],
    {
      diffIds: [`sha256:${'1'.repeat(64)}`, sha256(bigTar)],
    },
  );
  const held = Promise.all([front.hold(bad.layerDigests[0]), front.hold(bad.layerDigests[1])]);
  const pull = svc.pull(`${front.host}/test/fails:v1`, null);
  pull.catch(() => undefined);
  await held;
  front.letGo(bad.layerDigests[0]);
  await t.rejects(pull, { code: 'FAILED_PRECONDITION', message: /layer 0 .* was refused: uncompressed layer digest/ }, 'fails on layer 0 without waiting for layer 1');
  t.ok(front.request(bad.layerDigests[1])?.aborted, "layer 1's download was aborted");
  front.letGo();
  await leftNothing(t, before);
});

for (const [code, reason] of [
  ['CANCELLED', new CancelledError('PullImage cancelled by the caller')],
  ['DEADLINE_EXCEEDED', new DeadlineExceededError("PullImage: the caller's deadline passed")],
] as const) {
  t.test(`a pull whose caller aborts fails with the typed ${code} error (what the CRI wrapper logs and counts)`, async (t) => {
    front.blobs.length = 0;
    const before = await dirUsage(imageDir());
    const held = front.hold(img.layerDigests[0]);
    const caller = new AbortController();
    const pull = svc.pull(ref, null, caller.signal);
    pull.catch(() => undefined);
    await held;
    // What src/cri/wrap.ts aborts a call's signal with (cancelReason).
    caller.abort(reason);
    await t.rejects(pull, { code, message: new RegExp(`pull of .* stopped: ${reason.message}`) });
    t.ok(front.blobs[0].aborted, 'the blob request was aborted');
    front.letGo();
    await leftNothing(t, before);
  });
}

t.test('closing the service (daemon shutdown) stops a pull mid-download: UNAVAILABLE, nothing left', async (t) => {
  const root = join(base, 'shutdown');
  const own = await createImageService({ root, registries: { [front.host]: { insecure: true, mirrors: [] } }, log: silentLogger });
  front.blobs.length = 0;
  const held = front.hold(img.layerDigests[0]);
  const pull = own.pull(ref, null);
  pull.catch(() => undefined);
  await held;
  await own.close();
  await t.rejects(pull, { code: 'UNAVAILABLE', message: /daemon is shutting down/ }, 'the pull answers UNAVAILABLE');
  t.ok(front.blobs[0].aborted, 'the blob request was aborted');
  t.same(readdirSync(join(root, 'image', 'ingest')), [], 'no partial download left');
  t.same(await own.content.list(), [], 'no blob kept');
  await t.rejects(own.pull(ref, null), { code: 'UNAVAILABLE' }, 'a closed service refuses new pulls');
  front.letGo();
});

t.test('a daemon stopped mid-pull stops the pull before its drain: PullImage answers UNAVAILABLE, nothing left', async (t) => {
  const d = await startDaemon(t, { config: `[registries."${front.host}"]\ninsecure = true` });
  front.blobs.length = 0;
  const held = front.hold(img.layerDigests[0]);
  const pull = d.client.image.PullImage({ image: { image: ref } }, 120_000);
  pull.catch(() => undefined);
  await held;
  const code = d.stop();
  const err = await pull.then(
    () => undefined,
    (e: ServiceError) => e,
  );
  t.equal(err?.code, status.UNAVAILABLE, 'UNAVAILABLE');
  t.match(err?.details, /image pull stopped: the daemon is shutting down/, 'answered by the stopped pull, not by a dropped connection');
  t.equal(await code, 0, 'the daemon exits 0');
  t.notMatch(d.log(), /did not finish in time/, 'the drain did not wait for the pull until its timeout');
  t.ok(front.blobs[0].aborted, 'the blob request was aborted');
  t.same(readdirSync(join(d.root, 'image', 'ingest')), [], 'no partial download left');
  t.same(readdirSync(join(d.root, 'image', 'blobs', 'sha256')), [], 'no blob kept');
  front.letGo();
});
