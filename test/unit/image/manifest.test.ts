import t from 'tap';
import { hostPlatform, MediaType, parseManifest, selectPlatform, type IndexDoc } from '../../../src/image/manifest';

const D = (c: string): string => `sha256:${c.repeat(64)}`;
const buf = (o: unknown): Buffer => Buffer.from(JSON.stringify(o));

t.test('parse manifests and indexes', async (t) => {
  const m = parseManifest(
    buf({
      schemaVersion: 2,
      mediaType: MediaType.dockerManifest,
      config: { mediaType: MediaType.dockerConfig, digest: D('a'), size: 10 },
      layers: [{ mediaType: MediaType.dockerLayerGzip, digest: D('b'), size: 20 }],
    }),
    undefined,
    'm',
  );
  t.equal(m.kind, 'manifest');
  t.equal(m.kind === 'manifest' && m.layers[0].compression, 'gzip', 'docker layer is gzip');
  const noType = parseManifest(
    buf({ schemaVersion: 2, manifests: [{ mediaType: MediaType.ociManifest, digest: D('c'), size: 5, platform: { os: 'linux', architecture: 'amd64' } }] }),
    'application/json',
    'i',
  );
  t.equal(noType.kind, 'index', 'OCI index without mediaType recognised by shape');
});

t.test('refusals name the problem', async (t) => {
  const cases: { desc: string; doc: unknown; ct?: string; msg: RegExp }[] = [
    { desc: 'schema 1', doc: { schemaVersion: 1, fsLayers: [] }, msg: /schema 1 is deprecated/ },
    { desc: 'schema 1 by content type', doc: { schemaVersion: 2 }, ct: MediaType.dockerSchema1Signed, msg: /schema 1/ },
    {
      desc: 'bad digest in a layer',
      doc: { schemaVersion: 2, mediaType: MediaType.ociManifest, config: { mediaType: 'x', digest: D('a'), size: 1 }, layers: [{ mediaType: MediaType.ociLayer, digest: 'sha256:zz', size: 1 }] },
      msg: /not a sha256 digest/,
    },
    { desc: 'negative size', doc: { schemaVersion: 2, mediaType: MediaType.ociManifest, config: { mediaType: 'x', digest: D('a'), size: -1 }, layers: [] }, msg: /non-negative/ },
    {
      desc: 'unknown layer type',
      doc: { schemaVersion: 2, mediaType: MediaType.ociManifest, config: { mediaType: 'x', digest: D('a'), size: 1 }, layers: [{ mediaType: 'application/x-foo', digest: D('b'), size: 1 }] },
      msg: /unsupported media type/,
    },
    { desc: 'not JSON', doc: undefined, msg: /not valid JSON/ },
  ];
  for (const c of cases) {
    const bytes = c.doc === undefined ? Buffer.from('{nope') : buf(c.doc);
    t.throws(() => parseManifest(bytes, c.ct, 'x'), { code: 'FAILED_PRECONDITION', message: c.msg }, c.desc);
  }
});

t.test('platform selection', async (t) => {
  const idx = (...ps: [string, string, string?][]): IndexDoc => ({
    kind: 'index',
    mediaType: MediaType.ociIndex,
    manifests: ps.map(([os, architecture, variant], i) => ({ mediaType: MediaType.ociManifest, digest: D(String(i)), size: 1, platform: { os, architecture, variant } })),
  });
  const cases: { desc: string; index: IndexDoc; want: { os: string; architecture: string; variant?: string }; pick: number | 'none' }[] = [
    { desc: 'amd64 among others', index: idx(['linux', 'arm64', 'v8'], ['linux', 'amd64'], ['windows', 'amd64']), want: { os: 'linux', architecture: 'amd64' }, pick: 1 },
    { desc: 'arm64 without variant matches v8', index: idx(['linux', 'arm', 'v7'], ['linux', 'arm64']), want: { os: 'linux', architecture: 'arm64', variant: 'v8' }, pick: 1 },
    { desc: 'exact arm variant preferred', index: idx(['linux', 'arm', 'v6'], ['linux', 'arm', 'v7']), want: { os: 'linux', architecture: 'arm', variant: 'v7' }, pick: 1 },
    { desc: 'nothing for the host', index: idx(['linux', 's390x']), want: { os: 'linux', architecture: 'amd64' }, pick: 'none' },
  ];
  for (const c of cases) {
    if (c.pick === 'none') t.throws(() => selectPlatform(c.index, c.want, 'i'), { message: /offers: linux\/s390x/ }, c.desc);
    else t.equal(selectPlatform(c.index, c.want, 'i').digest, D(String(c.pick)), c.desc);
  }
  t.equal(hostPlatform().os, 'linux');
});
