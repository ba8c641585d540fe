// The image configuration (OCI image-spec config.md / Docker's container
// config), reduced to what CreateContainer applies and checked field by field.

import { FailedPreconditionError } from '../../common/errors';
import { DIGEST } from './reference';

/** Runtime defaults an image asks for; CreateContainer merges them with the CRI request. */
export interface ImageRuntimeConfig {
  User?: string;
  Env: string[];
  Entrypoint: string[];
  Cmd: string[];
  WorkingDir?: string;
  /** `"80/tcp"` keys, as in the image config. */
  ExposedPorts: string[];
  /** Container paths the image declares as volumes. */
  Volumes: string[];
  StopSignal?: string;
  Labels: Record<string, string>;
}

export interface ParsedImageConfig {
  os: string;
  architecture: string;
  variant?: string;
  created?: string;
  diffIds: string[];
  config: ImageRuntimeConfig;
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((s): s is string => typeof s === 'string') : [];
}

function optString(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

export function parseImageConfig(bytes: Buffer, what: string): ParsedImageConfig {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
  } catch {
    throw new FailedPreconditionError(`${what}: image config is not valid JSON`);
  }
  const rootfs = (doc.rootfs ?? {}) as Record<string, unknown>;
  const diffIds = strings(rootfs.diff_ids);
  if (!Array.isArray(rootfs.diff_ids) || diffIds.length !== rootfs.diff_ids.length || !diffIds.every((d) => DIGEST.test(d))) {
    throw new FailedPreconditionError(`${what}: image config rootfs.diff_ids must be a list of sha256 digests`);
  }
  const c = (typeof doc.config === 'object' && doc.config !== null ? doc.config : {}) as Record<string, unknown>;
  const labels: Record<string, string> = {};
  if (typeof c.Labels === 'object' && c.Labels !== null) {
    for (const [k, v] of Object.entries(c.Labels)) if (typeof v === 'string') labels[k] = v;
  }
  const keys = (v: unknown): string[] => (typeof v === 'object' && v !== null ? Object.keys(v) : []);
  return {
    os: typeof doc.os === 'string' ? doc.os : '',
    architecture: typeof doc.architecture === 'string' ? doc.architecture : '',
    variant: optString(doc.variant),
    created: optString(doc.created),
    diffIds,
    config: {
      User: optString(c.User),
      Env: strings(c.Env),
      Entrypoint: strings(c.Entrypoint),
      Cmd: strings(c.Cmd),
      WorkingDir: optString(c.WorkingDir),
      ExposedPorts: keys(c.ExposedPorts),
      Volumes: keys(c.Volumes),
      StopSignal: optString(c.StopSignal),
      Labels: labels,
    },
  };
}

/**
 * CRI reports `uid` when the image's User is numeric (user part of
 * `uid[:gid]`) and `username` otherwise, as containerd does.
 */
export function userOf(user: string | undefined): { uid?: string; username: string } {
  if (!user) return { username: '' };
  const name = user.split(':')[0] ?? '';
  if (/^\d+$/.test(name)) return { uid: name, username: '' };
  return { username: name };
}
