// Turns the OCI spec the host sent into the one crun runs in the guest (pure).
// The host builds the spec for the pod; inside the VM the agent
//   * points root.path at the rootfs under the 9p share,
//   * adds the requested bind mounts from the share,
//   * drops the network namespace (containers share the VM's network, which
//     is the pod network), and
//   * puts the container in the guest cgroup <parent>/<id> so stats and OOM
//     events can be read from a known place.

import { posix } from 'node:path';
import { InvalidArgumentError } from '../../common/errors';
import type { Mount } from '../../common/generated/agent/agent';

export interface OciProcess {
  terminal?: boolean;
  consoleSize?: { height?: unknown; width?: unknown };
  args?: unknown;
  [k: string]: unknown;
}

export interface OciSpec {
  root?: { path?: string; readonly?: boolean };
  mounts?: Array<{ destination: string; type?: string; source?: string; options?: string[] }>;
  process?: OciProcess;
  linux?: { namespaces?: Array<{ type: string; path?: string }>; cgroupsPath?: string; [k: string]: unknown };
  [k: string]: unknown;
}

/** A path relative to the share: no absolute paths, no "..", nothing empty. */
export function sharePath(shareDir: string, rel: string, field: string): string {
  if (!rel || rel.startsWith('/') || rel.split('/').some((p) => p === '..') || rel.includes('\0')) {
    throw new InvalidArgumentError(field, `"${rel}" must be a relative path inside the shared directory`);
  }
  return posix.join(shareDir, posix.normalize(rel));
}

/** The initial terminal size a process asks for (OCI process.consoleSize), if it gives a usable one. */
export function consoleSizeOf(proc: OciProcess | undefined, field: string): { rows: number; cols: number } | undefined {
  const cs = proc?.consoleSize;
  if (cs === undefined || cs === null) return undefined;
  const ok = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 0xffff;
  if (typeof cs !== 'object' || !ok(cs.height) || !ok(cs.width)) {
    throw new InvalidArgumentError(`${field}.consoleSize`, 'height and width must be integers in 0..65535');
  }
  return cs.height > 0 && cs.width > 0 ? { rows: cs.height, cols: cs.width } : undefined;
}

export function cgroupPathFor(parent: string, containerId: string): string {
  return `/${parent}/${containerId}`;
}

export function prepareSpec(specJson: Uint8Array, opts: { containerId: string; shareDir: string; rootfsPath: string; mounts: Mount[]; cgroupParent: string }): OciSpec {
  let spec: OciSpec;
  try {
    spec = JSON.parse(Buffer.from(specJson).toString('utf8')) as OciSpec;
  } catch (err) {
    throw new InvalidArgumentError('oci_spec_json', `not JSON: ${(err as Error).message}`);
  }
  if (!spec || typeof spec !== 'object' || Array.isArray(spec)) throw new InvalidArgumentError('oci_spec_json', 'not a JSON object');
  if (!spec.process || !Array.isArray(spec.process.args) || spec.process.args.length === 0) {
    throw new InvalidArgumentError('oci_spec_json', 'process.args is empty');
  }
  spec.root = { ...(spec.root ?? {}), path: sharePath(opts.shareDir, opts.rootfsPath, 'rootfs_path') };
  spec.mounts = [...(spec.mounts ?? [])];
  for (const [i, m] of opts.mounts.entries()) {
    if (!m.destination.startsWith('/')) throw new InvalidArgumentError(`mounts[${i}].destination`, 'must be absolute');
    spec.mounts.push({
      destination: m.destination,
      type: 'bind',
      source: sharePath(opts.shareDir, m.source, `mounts[${i}].source`),
      options: m.options.length ? m.options : ['rbind', 'rw'],
    });
  }
  spec.linux = { ...(spec.linux ?? {}) };
  spec.linux.namespaces = (spec.linux.namespaces ?? []).filter((n) => n.type !== 'network');
  spec.linux.cgroupsPath = cgroupPathFor(opts.cgroupParent, opts.containerId);
  return spec;
}
