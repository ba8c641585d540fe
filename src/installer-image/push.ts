// Pushes an image from an OCI layout to a registry with the distribution
// API's plain calls: a HEAD per blob (a registry that has it is not sent it
// again), a monolithic upload (POST, then PUT with the digest) for the rest,
// and the manifest PUT under the tag. Enough for a registry of one's own
// (Debian's docker-registry, a cluster's); tokens and chunked uploads are not
// needed for that and not done.

import { readFileSync } from 'node:fs';
import { httpRequest, readBody } from '../image/http';
import { blobPath, type BuiltImage } from './oci';

export interface PushTarget {
  /** http://host:port or https://host:port */
  registry: URL;
  /** Repository, e.g. vmpod/installer. */
  repo: string;
  tag: string;
  /** Basic auth, if the registry wants it. */
  username?: string;
  password?: string;
  /** Extra CA certificates (PEM) for an https registry. */
  ca?: Buffer;
}

async function call(t: PushTarget, method: string, path: string | URL, body?: Buffer, headers: Record<string, string> = {}): Promise<{ status: number; location?: string; text: string }> {
  const url = typeof path === 'string' ? new URL(path, t.registry) : path;
  const h = { ...headers };
  if (t.username !== undefined) h.authorization = `Basic ${Buffer.from(`${t.username}:${t.password ?? ''}`).toString('base64')}`;
  if (body) h['content-length'] = String(body.length);
  const res = await httpRequest({ method, url, body, headers: h, ca: t.ca, timeoutMs: 60_000 });
  const text = (await readBody(res, 1 << 20, `${method} ${url.href}`)).toString();
  const loc = res.headers.location;
  return { status: res.statusCode ?? 0, location: typeof loc === 'string' ? loc : undefined, text };
}

async function pushBlob(t: PushTarget, digest: string, bytes: () => Buffer): Promise<void> {
  const head = await call(t, 'HEAD', `/v2/${t.repo}/blobs/${digest}`);
  if (head.status === 200) return;
  const start = await call(t, 'POST', `/v2/${t.repo}/blobs/uploads/`, Buffer.alloc(0));
  if (start.status !== 202 || !start.location) throw new Error(`starting the upload of ${digest} to ${t.registry.host}/${t.repo}: HTTP ${start.status} ${start.text.slice(0, 300)}`);
  const put = new URL(start.location, t.registry);
  put.searchParams.set('digest', digest);
  const done = await call(t, 'PUT', put, bytes(), { 'content-type': 'application/octet-stream' });
  if (done.status !== 201) throw new Error(`uploading ${digest} to ${t.registry.host}/${t.repo}: HTTP ${done.status} ${done.text.slice(0, 300)}`);
}

/** Push the layout's image; resolves with the manifest digest the registry now serves under the tag. */
export async function pushImage(img: BuiltImage, t: PushTarget): Promise<string> {
  for (const d of [...img.layers, img.config]) await pushBlob(t, d.digest, () => readFileSync(blobPath(img.dir, d.digest)));
  const manifest = readFileSync(blobPath(img.dir, img.manifest.digest));
  const r = await call(t, 'PUT', `/v2/${t.repo}/manifests/${t.tag}`, manifest, { 'content-type': img.manifest.mediaType });
  if (r.status !== 201) throw new Error(`putting the manifest ${t.registry.host}/${t.repo}:${t.tag}: HTTP ${r.status} ${r.text.slice(0, 300)}`);
  return img.manifest.digest;
}
