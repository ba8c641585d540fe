// CRIListStreaming: the Stream* RPCs over a real grpc-js server and client,
// with List handlers made up here. Chunks are non-empty, every item comes
// once and in order, the filter reaches the List handler, an empty list is
// EOF at once, a failing List fails the stream with its code.

import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status as Status, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import { chunk, listStreams } from '../../../src/cri/list-streams';
import { createCriServer } from '../../../src/cri/server';
import { NotFoundError } from '../../../common/errors';
import { silentLogger } from '../../../src/log';
import { criClient } from '../../helpers/cri-client';
import { serveCriOn } from '../../helpers/serve-cri';

t.test('chunking', async (t) => {
  t.same(chunk([], { items: 2, bytes: 100 }), [], 'no items: no chunk');
  t.same(chunk([1, 2, 3, 4, 5], { items: 2, bytes: 100 }), [[1, 2], [3, 4], [5]], 'by count');
  const big = 'x'.repeat(40);
  t.same(
    chunk([big, big, big], { items: 10, bytes: 100 }).map((c) => c.length),
    [2, 1],
    'by size',
  );
  t.same(
    chunk(['x'.repeat(500), 'y'], { items: 10, bytes: 100 }).map((c) => c.length),
    [1, 1],
    'an item over the size limit goes alone, never dropped',
  );
});

t.test('Stream* RPCs answer their List RPC in chunks', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-streams-'));
  const containers = Array.from({ length: 450 }, (_, i) => ({ id: `c${i}`, pod_sandbox_id: i % 2 ? 'odd' : 'even' }));
  const seenFilters: unknown[] = [];
  const runtime = {
    ListContainers: async (req: { filter?: { pod_sandbox_id?: string } | null }) => {
      seenFilters.push(req.filter);
      const pod = req.filter?.pod_sandbox_id;
      return { containers: containers.filter((c) => !pod || c.pod_sandbox_id === pod) };
    },
    ListPodSandbox: async () => {
      throw new NotFoundError('pod sandbox', 'x');
    },
  };
  const image = { ListImages: async () => ({ images: [] }) };
  t.equal(Object.keys(listStreams({ runtime, image })).sort().join(' '), 'StreamContainers StreamImages StreamPodSandboxes', 'a Stream handler for each List handler there is');
  const { server } = createCriServer({ runtime, image }, silentLogger);
  const sock = join(dir, 'cri.sock');
  const stop = await serveCriOn(server, sock);
  const client = criClient(sock);
  t.teardown(async () => {
    client.close();
    await stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const collect = <T>(s: ClientReadableStream<T>): Promise<{ messages: T[]; error?: ServiceError }> =>
    new Promise((resolve) => {
      const messages: T[] = [];
      s.on('data', (m: T) => messages.push(m));
      s.on('error', (error: ServiceError) => resolve({ messages, error }));
      s.on('end', () => resolve({ messages }));
    });

  const all = await collect(client.raw.runtime.StreamContainers({}));
  t.equal(all.error, undefined, 'no error');
  const sizes = all.messages.map((m) => m.containers.length);
  t.same(sizes, [200, 200, 50], 'three non-empty chunks');
  t.same(
    all.messages.flatMap((m) => m.containers.map((c) => c.id)),
    containers.map((c) => c.id),
    'every item once, in order',
  );

  const even = await collect(client.raw.runtime.StreamContainers({ filter: { pod_sandbox_id: 'even' } }));
  t.equal(even.messages.flatMap((m) => m.containers).length, 225, 'the filter reaches ListContainers');
  t.equal((seenFilters[1] as { pod_sandbox_id: string }).pod_sandbox_id, 'even', 'as sent');

  const none = await collect(client.raw.image.StreamImages({}));
  t.same([none.messages.length, none.error], [0, undefined], 'an empty list is EOF at once, no empty chunk');

  const failed = await collect(client.raw.runtime.StreamPodSandboxes({}));
  t.equal(failed.error?.code, Status.NOT_FOUND, 'a failing List fails the stream with its code');
  t.match(failed.error?.details, /pod sandbox/, 'and its message');

  const missing = await collect(client.raw.runtime.StreamPodSandboxMetrics({}));
  t.equal(missing.error?.code, Status.UNIMPLEMENTED, 'no List handler: UNIMPLEMENTED');
});
