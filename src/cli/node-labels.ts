// Node labels from what `vmpod check` found, in the feature-file format of
// node-feature-discovery's local source: nfd-worker reads every file in
// features.d and publishes each `name=value` line as a node label. A
// RuntimeClass's scheduling.nodeSelector on vmpod.io/handler.<name>=true
// then keeps pods off nodes where that handler cannot run (deploy/).
// Older nfd-master releases publish only kubernetes.io namespaces unless
// started with -extra-label-ns=vmpod.io.

import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { blocking, type Capability } from '../host/capabilities';
import { ConfigError } from '../../common/errors';

export const NFD_FEATURES_DIR = '/etc/kubernetes/node-feature-discovery/features.d';
export const NFD_FEATURE_FILE = join(NFD_FEATURES_DIR, 'vmpod');
export const LABEL_PREFIX = 'vmpod.io/';

export interface NodeLabelFacts {
  /** Configured handler names (runtime.handlers). */
  handlers: readonly string[];
  /** What `vmpod check` found (deep: the kvm line says whether a guest boots with KVM). */
  capabilities: readonly Capability[];
  version: string;
}

// A label's name part and its value: at most 63 characters, alphanumeric at both ends, [-_.] inside.
const LABEL_PART = /^([A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?)$/;

function usable(caps: readonly Capability[], name: string): boolean {
  return caps.some((c) => c.name === name && c.status === 'OK');
}

/** The feature-file lines, sorted by name so that rewriting an unchanged node changes nothing. */
export function nodeLabelLines(facts: NodeLabelFacts): string[] {
  const blocked = blocking(facts.capabilities);
  const labels = new Map<string, string>();
  for (const h of facts.handlers) {
    if (!LABEL_PART.test(`handler.${h}`)) throw new ConfigError(`runtime.handlers.${h}`, 'the handler name cannot be part of a node label (letters, digits, -_. only)');
    labels.set(`handler.${h}`, String(!blocked.some((b) => b.neededBy.includes(h))));
  }
  labels.set('kvm', String(usable(facts.capabilities, 'kvm')));
  labels.set('vhost-vsock', String(usable(facts.capabilities, 'vhost-vsock')));
  if (!LABEL_PART.test(facts.version)) throw new ConfigError('version', `"${facts.version}" is not a valid label value`);
  labels.set('version', facts.version);
  return [...labels.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => `${LABEL_PREFIX}${k}=${v}`);
}

/**
 * Replace `path` with `lines` atomically: nfd-worker rereads the directory
 * every minute and must never see half a file. The temporary file is in the
 * same directory (rename does not cross filesystems) and is removed if anything fails.
 */
export function writeFeatureFile(path: string, lines: readonly string[]): void {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  let fd: number | undefined = openSync(tmp, 'wx', 0o644);
  try {
    writeSync(fd, lines.map((l) => `${l}\n`).join(''));
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (err) {
    if (fd !== undefined) closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
}
