// Image references, parsed and normalised the way Docker and containerd do
// (github.com/distribution/reference): `busybox` is
// `docker.io/library/busybox:latest`, a first component with a `.` or `:` or
// equal to `localhost` is a registry host, and a digest pins the content
// whatever the tag says.

import { InvalidArgumentError } from '../../common/errors';

export interface ImageReference {
  /** Registry host as written (`docker.io` for Docker Hub), with port if any. */
  readonly domain: string;
  /** Repository path inside the registry, e.g. `library/busybox`. */
  readonly path: string;
  /** Tag; `latest` when neither tag nor digest was given. */
  readonly tag?: string;
  /** `sha256:<64 hex>` when the reference pins a digest. */
  readonly digest?: string;
}

const DEFAULT_DOMAIN = 'docker.io';
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?))*(?::[0-9]+)?$|^\[[a-fA-F0-9:]+\](?::[0-9]+)?$/;
const TAG = /^[\w][\w.-]{0,127}$/;
export const DIGEST = /^sha256:[a-f0-9]{64}$/;
const MAX_NAME = 255;

/**
 * Parse and normalise a reference. Throws InvalidArgumentError(field, …)
 * naming what is wrong, so the caller can fix the reference from the message.
 */
export function parseReference(input: string, field = 'image.image'): ImageReference {
  const bad = (problem: string): never => {
    throw new InvalidArgumentError(field, `invalid image reference "${input}": ${problem}`);
  };
  if (typeof input !== 'string' || input.length === 0) bad('is empty');
  if (input !== input.trim()) bad('has leading or trailing white space');

  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!digest.startsWith('sha256:')) bad(`only sha256 digests are supported, got "${digest}"`);
    if (!DIGEST.test(digest)) bad(`digest "${digest}" is not sha256 followed by 64 lower-case hex digits`);
  }

  let tag: string | undefined;
  // A colon after the last slash starts the tag (a colon before it is a port).
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.indexOf(':', lastSlash + 1);
  if (colon >= 0) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) bad(`tag "${tag}" must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`);
  }

  let domain = DEFAULT_DOMAIN;
  let path = rest;
  const slash = rest.indexOf('/');
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase()) {
      domain = first;
      path = rest.slice(slash + 1);
      if (!DOMAIN.test(domain)) bad(`registry host "${domain}" is not a valid host[:port]`);
    }
  }
  if (domain === 'index.docker.io') domain = DEFAULT_DOMAIN;
  if (path.length === 0) bad('repository name is empty');
  if (domain === DEFAULT_DOMAIN && !path.includes('/')) path = `library/${path}`;
  for (const component of path.split('/')) {
    if (component !== component.toLowerCase()) bad('repository name must be lower-case');
    if (!PATH_COMPONENT.test(component)) bad(`repository path component "${component}" is not valid`);
  }
  if (domain.length + 1 + path.length > MAX_NAME) bad(`repository name is longer than ${MAX_NAME} characters`);
  if (tag === undefined && digest === undefined) tag = 'latest';
  return { domain, path, tag, digest };
}

/** `docker.io/library/busybox` — the name without tag or digest. */
export function repositoryName(ref: ImageReference): string {
  return `${ref.domain}/${ref.path}`;
}

/** Fully-qualified string form: `name:tag`, `name@digest` or `name:tag@digest`. */
export function formatReference(ref: ImageReference): string {
  let s = repositoryName(ref);
  if (ref.tag !== undefined) s += `:${ref.tag}`;
  if (ref.digest !== undefined) s += `@${ref.digest}`;
  return s;
}

/** `name:tag` for the image record's repo tags, or undefined for a digest-only reference. */
export function tagReference(ref: ImageReference): string | undefined {
  return ref.tag === undefined ? undefined : `${repositoryName(ref)}:${ref.tag}`;
}

/** `name@digest` for the image record's repo digests. */
export function digestReference(ref: ImageReference, manifestDigest: string): string {
  return `${repositoryName(ref)}@${manifestDigest}`;
}

/** The host to open connections to: Docker Hub's API does not live on docker.io. */
export function apiHost(domain: string): string {
  return domain === DEFAULT_DOMAIN ? 'registry-1.docker.io' : domain;
}
