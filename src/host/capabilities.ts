// What this host offers vmpod, one fact per line, as `vmpod check` prints it
// and verbose Status reports it. This module holds the probes (cheap: file
// checks and `--version` calls) and the daemon-wide facts; what each handler
// needs is said by its handler type (checkHost in src/sandbox/<type>/), and
// src/daemon/host-report.ts puts the two together.

import { execFile } from 'node:child_process';
import { accessSync, constants, existsSync, readdirSync, statfsSync } from 'node:fs';
import { join } from 'node:path';
import type { VmpodConfig } from '../config/types';

export type CapabilityStatus = 'OK' | 'MISSING' | 'UNUSABLE';

export interface Capability {
  name: string;
  status: CapabilityStatus;
  detail: string;
  /** How to fix it, when not OK. */
  fix?: string;
  /** Handlers (by name) that cannot work without it; empty = informational. */
  neededBy: string[];
}

const CGROUP2_SUPER_MAGIC = 0x63677270;

function run(cmd: string, args: string[]): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 5000 }, (err, stdout, stderr) => resolve(err ? undefined : `${stdout}${stderr}`.trim()));
  });
}

function findInPath(bin: string): string | undefined {
  const dirs = (process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin').split(':');
  for (const dir of [...dirs, '/usr/sbin', '/usr/libexec/podman', '/usr/bin']) {
    const path = join(dir, bin);
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // keep looking
    }
  }
  return undefined;
}

export function cgroupVersion(): 1 | 2 {
  try {
    return statfsSync('/sys/fs/cgroup').type === CGROUP2_SUPER_MAGIC ? 2 : 1;
  } catch {
    return 1;
  }
}

export async function binaryCapability(name: string, bin: string, versionArgs: string[], pkg: string, neededBy: string[]): Promise<Capability> {
  const path = findInPath(bin);
  if (!path) return { name, status: 'MISSING', detail: `${bin} not found in PATH`, fix: `apt-get install ${pkg}`, neededBy };
  const out = await run(path, versionArgs);
  if (out === undefined) return { name, status: 'UNUSABLE', detail: `${path} does not run`, fix: `reinstall ${pkg}`, neededBy };
  return { name, status: 'OK', detail: `${path} (${out.split('\n')[0]})`, neededBy };
}

export function deviceCapability(name: string, path: string, fix: string, neededBy: string[]): Capability {
  if (!existsSync(path)) return { name, status: 'MISSING', detail: `${path} does not exist`, fix, neededBy };
  try {
    accessSync(path, constants.R_OK | constants.W_OK);
    return { name, status: 'OK', detail: `${path} present`, neededBy };
  } catch (err) {
    return { name, status: 'UNUSABLE', detail: `${path}: ${(err as Error).message}`, fix, neededBy };
  }
}

function cniPlugins(cfg: VmpodConfig): Capability {
  const want = ['bridge', 'host-local', 'loopback', 'portmap'];
  for (const dir of cfg.network.cni_bin_dirs) {
    if (want.every((p) => existsSync(join(dir, p)))) return { name: 'cni-plugins', status: 'OK', detail: `${want.join(', ')} in ${dir}`, neededBy: [] };
  }
  return {
    name: 'cni-plugins',
    status: 'MISSING',
    detail: `none of ${cfg.network.cni_bin_dirs.join(', ')} holds ${want.join(', ')}`,
    fix: 'apt-get install containernetworking-plugins',
    neededBy: [],
  };
}

function cniConfig(cfg: VmpodConfig): Capability {
  let files: string[] = [];
  try {
    files = readdirSync(cfg.network.cni_conf_dir)
      .filter((f) => /\.(conflist|conf|json)$/.test(f))
      .sort();
  } catch {
    // reported below
  }
  if (files.length === 0) {
    return {
      name: 'cni-config',
      status: 'MISSING',
      detail: `no .conflist/.conf in ${cfg.network.cni_conf_dir}: pods other than hostNetwork ones cannot start (NetworkReady=false)`,
      fix: `install your cluster's CNI config into ${cfg.network.cni_conf_dir}`,
      neededBy: [],
    };
  }
  return { name: 'cni-config', status: 'OK', detail: join(cfg.network.cni_conf_dir, files[0]), neededBy: [] };
}

/** The facts every handler depends on, whatever its type. */
export function daemonCapabilities(cfg: VmpodConfig): Capability[] {
  const all = Object.keys(cfg.runtime.handlers);
  const isRoot = process.geteuid?.() === 0;
  return [
    isRoot
      ? { name: 'root', status: 'OK', detail: 'running as uid 0', neededBy: all }
      : { name: 'root', status: 'MISSING', detail: `running as uid ${process.geteuid?.()}`, fix: 'run vmpod as root', neededBy: all },
    { name: 'cgroup', status: 'OK', detail: `cgroup v${cgroupVersion()} at /sys/fs/cgroup`, neededBy: [] },
    cniPlugins(cfg),
    cniConfig(cfg),
  ];
}

/** Capabilities that block a configured handler. */
export function blocking(caps: readonly Capability[]): Capability[] {
  return caps.filter((c) => c.status !== 'OK' && c.neededBy.length > 0);
}

/** One line per fact: two handlers that need the same one (same name and finding) share it. */
export function mergeCapabilities(caps: readonly Capability[]): Capability[] {
  const out: Capability[] = [];
  for (const c of caps) {
    const same = out.find((o) => o.name === c.name && o.status === c.status && o.detail === c.detail);
    if (same) same.neededBy = [...new Set([...same.neededBy, ...c.neededBy])];
    else out.push({ ...c, neededBy: [...c.neededBy] });
  }
  return out;
}
