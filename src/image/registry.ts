// OCI distribution API v2 client: endpoint choice (mirrors, then the
// registry), scheme and TLS trust per host, the auth challenge flow, retries
// of transient failures. It moves bytes; verification is the caller's job
// (see content-store.ts), so that nothing unverified is ever stored.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import type { RegistryConfig } from '../config/types';
import { DeadlineExceededError, NotFoundError, UnauthenticatedError, UnavailableError } from '../../common/errors';
import type { Logger } from '../log';
import { basicHeader, credentialsFrom, parseChallenges, type Challenge, type Credentials } from './auth';
import { HttpTimeoutError, httpRequest, isNodeLocalAddress, isTransientNetworkError, readBody } from './http';
import { MANIFEST_ACCEPT } from './manifest';
import { apiHost, type ImageReference } from './reference';
import { sleep } from '../../common/time';

export interface Endpoint {
  /** host[:port] to connect to */
  host: string;
  insecure: boolean;
  ca?: Buffer;
  isMirror: boolean;
  /** This host's own credentials from `[registries."<host>".auth]` (anonymous when none). */
  configured: Credentials;
}

export interface RegistryClientOptions {
  registries: Record<string, RegistryConfig>;
  log: Logger;
  /** Inactivity timeout of each request. */
  timeoutMs?: number;
  /** Attempts per request for transient failures (5xx, 429, connection reset). */
  attempts?: number;
  retryDelayMs?: number;
}

export const MAX_MANIFEST_BYTES = 4 << 20;
const MAX_TOKEN_BYTES = 1 << 20;

/** The registry said no in a way that trying again will not change. */
class FinalError extends Error {
  constructor(readonly error: Error) {
    super(error.message);
  }
}

/** The hosts to try for a repository's domain: mirrors in order, then the registry itself. */
export function endpointsFor(domain: string, registries: Record<string, RegistryConfig>): Endpoint[] {
  const own = registries[domain];
  const load = (host: string, isMirror: boolean): Endpoint => {
    const cfg = registries[host];
    return { host, insecure: cfg?.insecure ?? false, ca: cfg?.ca_file ? readFileSync(cfg.ca_file) : undefined, isMirror, configured: credentialsFrom(cfg?.auth) };
  };
  const mirrors = (own?.mirrors ?? []).map((m) => load(m.replace(/^https?:\/\//, '').replace(/\/+$/, ''), true));
  const self = load(apiHost(domain), false);
  if (own) {
    self.insecure = own.insecure;
    if (own.ca_file) self.ca = readFileSync(own.ca_file);
    // The table of the name the image uses (docker.io), else the API host's (registry-1.docker.io).
    if (own.auth) self.configured = credentialsFrom(own.auth);
  }
  return [...mirrors, self];
}

/**
 * The credentials that go to one endpoint. The AuthConfig kubelet passes is
 * the pull secret of the image's registry; a mirror is another party: it
 * gets its own configured credentials, never the pull's (containerd
 * likewise scopes a pull's auth to the host it was given for). The registry
 * gets the pull's credentials if there are any, else its configured ones.
 */
export function credentialsFor(ep: Endpoint, given: Credentials): Credentials {
  if (ep.isMirror) return ep.configured;
  return given.kind === 'anonymous' ? ep.configured : given;
}

export class RegistryClient {
  private readonly tokens = new Map<string, { header: string; expires: number }>();
  /** Insecure hosts that answered plain HTTP rather than TLS. */
  private readonly plainHttp = new Set<string>();
  private readonly timeoutMs: number;
  private readonly attempts: number;
  private readonly retryDelayMs: number;

  constructor(private readonly opts: RegistryClientOptions) {
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.attempts = opts.attempts ?? 3;
    this.retryDelayMs = opts.retryDelayMs ?? 250;
  }

  /** GET a manifest by tag or digest; returns raw bytes for the caller to verify. */
  async getManifest(ref: ImageReference, reference: string, creds: Credentials, signal?: AbortSignal): Promise<{ bytes: Buffer; contentType?: string; digestHeader?: string; endpoint: Endpoint }> {
    return this.onEndpoints(ref, async (ep) => {
      const res = await this.request(ep, ref, `/v2/${ref.path}/manifests/${reference}`, creds, { accept: MANIFEST_ACCEPT }, signal);
      if (res.statusCode === 404) {
        res.resume();
        throw new FinalError(new NotFoundError('image', `${ref.domain}/${ref.path}:${reference}`, `registry ${ep.host} has no such manifest`));
      }
      const bytes = await readBody(res, MAX_MANIFEST_BYTES, `manifest ${reference} from ${ep.host}`);
      return { bytes, contentType: header(res, 'content-type'), digestHeader: header(res, 'docker-content-digest'), endpoint: ep };
    });
  }

  /** GET a blob; the stream is the body, unverified. */
  async openBlob(ref: ImageReference, digest: string, creds: Credentials, signal?: AbortSignal): Promise<IncomingMessage> {
    return this.onEndpoints(ref, async (ep) => {
      const res = await this.request(ep, ref, `/v2/${ref.path}/blobs/${digest}`, creds, {}, signal);
      if (res.statusCode === 404) {
        res.resume();
        throw new FinalError(new NotFoundError('blob', digest, `registry ${ep.host} has no such blob in ${ref.path}`));
      }
      return res;
    });
  }

  private async onEndpoints<T>(ref: ImageReference, fn: (ep: Endpoint) => Promise<T>): Promise<T> {
    const eps = endpointsFor(ref.domain, this.opts.registries);
    let last: unknown;
    for (const ep of eps) {
      try {
        return await fn(ep);
      } catch (err) {
        const e = err instanceof FinalError ? err.error : err;
        last = e;
        if (ep.isMirror) this.opts.log.info({ mirror: ep.host, err: (e as Error).message }, 'mirror failed, trying the next host');
      }
    }
    throw last;
  }

  /**
   * One request with auth and retries. Returns a 2xx (or 404) response;
   * every other outcome is thrown as a typed error.
   */
  private async request(ep: Endpoint, ref: ImageReference, path: string, given: Credentials, headers: Record<string, string>, signal?: AbortSignal): Promise<IncomingMessage> {
    const creds = credentialsFor(ep, given);
    const scope = `repository:${ref.path}:pull`;
    // Tokens are cached per credentials: a pull without (or with other)
    // credentials must never ride on a token another pull's secret obtained.
    const cacheKey = `${ep.host} ${scope} ${credentialKey(creds)}`;
    let authTried = false;
    for (let attempt = 1; ; attempt++) {
      let res: IncomingMessage;
      try {
        res = await this.send(ep, path, { ...headers, ...this.authHeader(cacheKey, creds) }, signal);
      } catch (err) {
        if (signal?.aborted) throw err;
        if (isTransientNetworkError(err) && attempt < this.attempts) {
          await sleep(this.retryDelayMs * 2 ** (attempt - 1));
          continue;
        }
        if (err instanceof HttpTimeoutError) throw new DeadlineExceededError(`registry ${ep.host}: ${err.message}`);
        throw new UnavailableError(`registry ${ep.host} is unreachable: ${(err as Error).message}`, { cause: err });
      }
      const status = res.statusCode ?? 0;
      if (status >= 200 && status < 300) return res;
      if (status === 404) return res;
      if (status === 401 && !authTried) {
        const challenges = parseChallenges(header(res, 'www-authenticate'));
        res.resume();
        authTried = true;
        await this.authenticate(ep, scope, cacheKey, challenges, creds, signal);
        attempt--;
        continue;
      }
      const raw = (await readBody(res, 64 << 10, 'error body').catch(() => Buffer.alloc(0))).toString('utf8');
      this.opts.log.debug({ registry: ep.host, path, status, body: raw.slice(0, 1000) }, 'registry error response');
      const body = registryErrorCodes(raw);
      if (status === 401 || status === 403) {
        throw new FinalError(
          new UnauthenticatedError(
            `registry ${ep.host} refused access to ${ref.path} (HTTP ${status})${creds.kind === 'anonymous' ? `; it needs credentials: ${credentialHint(ep)}` : '; check the username and password'}${body}`,
          ),
        );
      }
      if ((status >= 500 || status === 429) && attempt < this.attempts) {
        await sleep(this.retryDelayMs * 2 ** (attempt - 1));
        continue;
      }
      throw new UnavailableError(`registry ${ep.host} answered HTTP ${status} for ${path}${body}`);
    }
  }

  /** Send one request, following redirects (blob storage) and picking the scheme. */
  private async send(ep: Endpoint, path: string, headers: Record<string, string>, signal?: AbortSignal): Promise<IncomingMessage> {
    let url = new URL(`${this.plainHttp.has(ep.host) ? 'http' : 'https'}://${ep.host}${path}`);
    for (let hop = 0; hop < 6; hop++) {
      let res: IncomingMessage;
      try {
        res = await httpRequest({ url, headers, insecureTls: ep.insecure, ca: ep.ca, timeoutMs: this.timeoutMs, signal, refuseLocal: url.host !== ep.host && !isLocalRegistry(ep) });
      } catch (err) {
        // An insecure host may speak plain HTTP: TLS to it fails at once. Remember and retry.
        if (ep.insecure && url.protocol === 'https:' && hop === 0 && isTlsMismatch(err)) {
          this.plainHttp.add(ep.host);
          url = new URL(`http://${ep.host}${path}`);
          hop--;
          continue;
        }
        throw err;
      }
      const status = res.statusCode ?? 0;
      const location = header(res, 'location');
      if ([301, 302, 303, 307, 308].includes(status) && location) {
        res.resume();
        const next = new URL(location, url);
        // Credentials go to the registry only, never to the storage it redirects to, nor down to plain HTTP.
        if (next.host !== url.host || (url.protocol === 'https:' && next.protocol !== 'https:')) delete headers.authorization;
        url = next;
        continue;
      }
      return res;
    }
    throw new UnavailableError(`registry ${ep.host}: too many redirects for ${path}`);
  }

  private authHeader(cacheKey: string, creds: Credentials): Record<string, string> {
    if (creds.kind === 'bearer') return { authorization: `Bearer ${creds.token}` };
    const t = this.tokens.get(cacheKey);
    if (t && t.expires > Date.now()) return { authorization: t.header };
    return {};
  }

  private async authenticate(ep: Endpoint, scope: string, key: string, challenges: Challenge[], creds: Credentials, signal?: AbortSignal): Promise<void> {
    const bearer = challenges.find((c) => c.scheme === 'bearer');
    if (bearer && bearer.params.realm) {
      const token = await this.fetchToken(ep, bearer.params, scope, creds, signal);
      this.tokens.set(key, { header: `Bearer ${token.token}`, expires: Date.now() + Math.max(30, token.expiresIn - 10) * 1000 });
      return;
    }
    const basic = challenges.find((c) => c.scheme === 'basic');
    if (basic && creds.kind === 'basic') {
      this.tokens.set(key, { header: basicHeader(creds.username, creds.password), expires: Number.MAX_SAFE_INTEGER });
      return;
    }
    throw new FinalError(
      new UnauthenticatedError(
        `registry ${ep.host} requires authentication (${challenges.map((c) => c.scheme).join(', ') || 'no challenge given'}) and ${creds.kind === 'anonymous' ? `no credentials were given: ${credentialHint(ep)}` : `the ${creds.kind} credentials given do not fit it`}`,
      ),
    );
  }

  /** The token endpoint of the bearer flow (distribution's token spec, and the OAuth2 refresh-token form). */
  private async fetchToken(ep: Endpoint, params: Record<string, string>, scope: string, creds: Credentials, signal?: AbortSignal): Promise<{ token: string; expiresIn: number }> {
    let realm: URL;
    try {
      realm = new URL(params.realm);
    } catch {
      throw new FinalError(new UnavailableError(`registry ${ep.host} named a token endpoint that is not a URL: ${JSON.stringify(params.realm.slice(0, 200))}`));
    }
    if (realm.protocol !== 'https:' && realm.protocol !== 'http:') throw new FinalError(new UnavailableError(`registry ${ep.host} named a token endpoint that is not http(s): ${realm.protocol}`));
    refuseSecretOverPlainHttp(ep, realm, creds);
    const refuseLocal = realm.host !== ep.host && !isLocalRegistry(ep);
    const wantScope = params.scope || scope;
    let res: IncomingMessage;
    const tokenHost: Endpoint = { ...ep, host: realm.host };
    try {
      if (creds.kind === 'refresh') {
        const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: creds.refreshToken, service: params.service ?? '', scope: wantScope, client_id: 'vmpod' });
        res = await httpRequest({
          url: realm,
          refuseLocal,
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: form.toString(),
          insecureTls: tokenHost.insecure,
          ca: tokenHost.ca,
          timeoutMs: this.timeoutMs,
          signal,
        });
      } else {
        if (params.service) realm.searchParams.set('service', params.service);
        realm.searchParams.set('scope', wantScope);
        const headers: Record<string, string> = creds.kind === 'basic' ? { authorization: basicHeader(creds.username, creds.password) } : {};
        res = await httpRequest({ url: realm, headers, insecureTls: tokenHost.insecure, ca: tokenHost.ca, timeoutMs: this.timeoutMs, signal, refuseLocal });
      }
    } catch (err) {
      throw new UnavailableError(`token endpoint ${realm.host} of registry ${ep.host} is unreachable: ${(err as Error).message}`, { cause: err });
    }
    const body = await readBody(res, MAX_TOKEN_BYTES, `token from ${realm.host}`);
    if (res.statusCode === 401 || res.statusCode === 403) {
      throw new FinalError(
        new UnauthenticatedError(
          `token endpoint ${realm.host} of registry ${ep.host} refused the ${creds.kind === 'anonymous' ? `anonymous request; ${credentialHint(ep)}` : 'credentials; check the username and password'} (HTTP ${res.statusCode})`,
        ),
      );
    }
    if ((res.statusCode ?? 0) >= 300) throw new UnavailableError(`token endpoint ${realm.host} answered HTTP ${res.statusCode}`);
    let doc: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      doc = JSON.parse(body.toString('utf8')) as typeof doc;
    } catch {
      throw new UnavailableError(`token endpoint ${realm.host} returned something that is not JSON`);
    }
    const token = typeof doc.token === 'string' ? doc.token : typeof doc.access_token === 'string' ? doc.access_token : '';
    if (!token) throw new UnavailableError(`token endpoint ${realm.host} returned no token`);
    return { token, expiresIn: typeof doc.expires_in === 'number' ? doc.expires_in : 60 };
  }
}

/**
 * A registry's challenge may name any token endpoint. Credentials go to it
 * over TLS, or over plain HTTP only when it is the registry host itself and
 * the operator marked that host insecure: anyone on the path of a plain-HTTP
 * realm elsewhere would read the password.
 */
export function refuseSecretOverPlainHttp(ep: Endpoint, realm: URL, creds: Credentials): void {
  if (realm.protocol === 'https:' || creds.kind === 'anonymous' || creds.kind === 'bearer') return;
  if (ep.insecure && realm.host === ep.host) return;
  throw new FinalError(
    new UnauthenticatedError(
      `registry ${ep.host} asks for credentials at ${realm.protocol}//${realm.host}, which is plain HTTP${realm.host === ep.host ? '' : ' on another host'}; vmpod does not send credentials there (a registry that is yours over plain HTTP: mark it insecure and serve its tokens from the same host)`,
    ),
  );
}

/**
 * What of a registry's error body reaches the CRI caller (and so kubelet's
 * events): only the distribution spec's error codes, never its free text,
 * which a hostile registry could fill with anything. The body is logged.
 */
export function registryErrorCodes(body: string): string {
  let codes: string[] = [];
  try {
    const doc = JSON.parse(body) as { errors?: { code?: unknown }[] };
    if (Array.isArray(doc.errors)) codes = doc.errors.map((e) => e?.code).filter((c): c is string => typeof c === 'string' && /^[A-Z_]{1,40}$/.test(c));
  } catch {
    // not the spec's JSON: nothing of it is shown
  }
  return codes.length ? ` (registry error: ${[...new Set(codes)].slice(0, 5).join(', ')})` : '';
}

/** What to do when a host wants credentials it did not get: a mirror never gets the pull's, only its own configured ones. */
function credentialHint(ep: Endpoint): string {
  const table = `[registries."${ep.host}".auth]`;
  return ep.isMirror ? `it is a mirror, which gets only its own credentials: configure ${table}` : `pass an AuthConfig (crictl pull --creds user:pass) or configure ${table}`;
}

/** A registry on this node's own addresses may send its clients to them; a remote one may not (server-side request forgery). */
function isLocalRegistry(ep: Endpoint): boolean {
  const host = new URL(`http://${ep.host}`).hostname;
  return host === 'localhost' || isNodeLocalAddress(host);
}

function credentialKey(creds: Credentials): string {
  return createHash('sha256').update(JSON.stringify(creds)).digest('hex').slice(0, 32);
}

function header(res: IncomingMessage, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function isTlsMismatch(err: unknown): boolean {
  const code = (err as { code?: string }).code ?? '';
  return code === 'EPROTO' || code.startsWith('ERR_SSL') || code === 'ECONNRESET';
}
