// Registry authentication: the WWW-Authenticate challenge parser and the
// credentials a CRI AuthConfig carries. Pure; the HTTP side is in token.ts.

import { InvalidArgumentError } from '../../common/errors';

/** The CRI AuthConfig message (runtime.v1), snake_case as proto-loader decodes it. */
export interface CriAuthConfig {
  username?: string;
  password?: string;
  auth?: string;
  server_address?: string;
  identity_token?: string;
  registry_token?: string;
}

export type Credentials =
  | { kind: 'anonymous' }
  | { kind: 'basic'; username: string; password: string }
  /** Docker's identity token: a refresh token exchanged at the token endpoint. */
  | { kind: 'refresh'; username: string; refreshToken: string }
  /** A bearer token sent as is. */
  | { kind: 'bearer'; token: string };

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Credentials from a CRI AuthConfig; the most specific form wins as in containerd's ParseAuth. */
export function credentialsFrom(auth: CriAuthConfig | null | undefined): Credentials {
  if (!auth) return { kind: 'anonymous' };
  if (auth.registry_token) {
    // It goes into the Authorization header as it is: a character HTTP forbids there
    // would fail the request as if the registry were unreachable.
    if (!/^[\x21-\x7e]+$/.test(auth.registry_token)) throw new InvalidArgumentError('auth.registry_token', 'must be printable ASCII without spaces (it is sent as a bearer token)');
    return { kind: 'bearer', token: auth.registry_token };
  }
  if (auth.identity_token) return { kind: 'refresh', username: auth.username ?? '', refreshToken: auth.identity_token };
  if (auth.username) return { kind: 'basic', username: auth.username, password: auth.password ?? '' };
  if (auth.auth) {
    const decoded = Buffer.from(auth.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon <= 0) throw new InvalidArgumentError('auth.auth', 'must be base64 of "username:password"');
    return { kind: 'basic', username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  return { kind: 'anonymous' };
}

/**
 * Parse a WWW-Authenticate header (RFC 7235): `Bearer realm="…",service="…",scope="…"`.
 * Returns one entry per challenge; parameters are lower-cased.
 */
export function parseChallenges(header: string | undefined): Challenge[] {
  if (!header) return [];
  const out: Challenge[] = [];
  let i = 0;
  const s = header;
  const skipWs = (): void => {
    while (i < s.length && (s[i] === ' ' || s[i] === '\t')) i++;
  };
  const token = (): string => {
    const start = i;
    while (i < s.length && /[!#$%&'*+.^_`|~0-9A-Za-z-]/.test(s[i])) i++;
    return s.slice(start, i);
  };
  while (i < s.length) {
    skipWs();
    while (s[i] === ',') {
      i++;
      skipWs();
    }
    const scheme = token();
    if (!scheme) break;
    const params: Record<string, string> = {};
    for (;;) {
      skipWs();
      const save = i;
      const name = token();
      skipWs();
      if (!name || s[i] !== '=') {
        i = save;
        break;
      }
      i++;
      skipWs();
      let value = '';
      if (s[i] === '"') {
        i++;
        while (i < s.length && s[i] !== '"') {
          if (s[i] === '\\' && i + 1 < s.length) i++;
          value += s[i];
          i++;
        }
        i++;
      } else {
        value = token();
      }
      params[name.toLowerCase()] = value;
      skipWs();
      if (s[i] === ',') i++;
      else break;
    }
    out.push({ scheme: scheme.toLowerCase(), params });
  }
  return out;
}

export function basicHeader(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}
