// What this host offers vmpod, one fact per line, as `vmpod check` prints it
// and verbose Status reports it. Probes here are cheap (file checks and
// `--version` calls); the KVM boot probe and the guest image lookup are
// passed in by the caller because they belong to the hypervisor and guest
// image modules.

import { execFile } from 'node:child_process';
import { accessSync, constants, existsSync, readdirSync, statfsSync } from 'node:fs';
import { join } from 'node:path';
import type { HandlerType, VmpodConfig } from '../config/types';

export type CapabilityStatus = 'OK' | 'MISSING' | 'UNUSABLE';

export interface Capability {
  name: string;
  status: CapabilityStatus;
  detail: string;
  /** How to fix it, when not OK. */
  fix?: string;
  /** Handler types that cannot work without it; empty = informational. */
  neededBy: HandlerType[];
}

export interface ExtraProbes {
  /** Whether a guest really boots with KVM here (undefined: not probed). */
  kvmBoots?: () => Promise<{ ok: boolean; detail: string }>;
  /** The guest image the config points at. */
  guestImage?: () => { ok: true; detail: string } | { ok: false; detail: string };
  /** Lines saying what VM pods will use on this host (accelerator, agent transport) and why. */
  decisions?: () => Promise<string[]>;
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

async function binary(name: string, bin: string, versionArgs: string[], pkg: string, neededBy: HandlerType[]): Promise<Capability> {
  const path = findInPath(bin);
  if (!path) return { name, status: 'MISSING', detail: `${bin} not found in PATH`, fix: `apt-get install ${pkg}`, neededBy };
  const out = await run(path, versionArgs);
  if (out === undefined) return { name, status: 'UNUSABLE', detail: `${path} does not run`, fix: `reinstall ${pkg}`, neededBy };
  return { name, status: 'OK', detail: `${path} (${out.split('\n')[0]})`, neededBy };
}

function device(name: string, path: string, fix: string, neededBy: HandlerType[]): Capability {
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
    files = readdirSync(cfg.network.cni_conf_dir).filter((f) => /\.(conflist|conf|json)$/.test(f)).sort();
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
  return { name: 'cni-config', status: 'OK', detail: join(cfg.network.cni_conf_dir, files[0]!), neededBy: [] };
}

export async function probeCapabilities(cfg: VmpodConfig, extra: ExtraProbes = {}): Promise<Capability[]> {
  const isRoot = process.geteuid?.() === 0;
  const caps: Capability[] = [
    isRoot
      ? { name: 'root', status: 'OK', detail: 'running as uid 0', neededBy: ['runc', 'microvm'] }
      : { name: 'root', status: 'MISSING', detail: `running as uid ${process.geteuid?.()}`, fix: 'run vmpod as root', neededBy: ['runc', 'microvm'] },
    { name: 'cgroup', status: 'OK', detail: `cgroup v${cgroupVersion()} at /sys/fs/cgroup`, neededBy: [] },
    await binary('runc', 'runc', ['--version'], 'runc', ['runc']),
    await binary('conmon', 'conmon', ['--version'], 'conmon', ['runc']),
    cniPlugins(cfg),
    cniConfig(cfg),
    await binary('qemu', cfg.microvm.qemu_binary, ['--version'], 'qemu-system-x86', ['microvm']),
    device('kvm', '/dev/kvm', 'load kvm_intel/kvm_amd or enable nested virtualisation; microvm falls back to TCG (slow)', []),
    device('vhost-vsock', '/dev/vhost-vsock', 'modprobe vhost_vsock; until then the agent channel uses virtio-serial', []),
  ];
  if (extra.kvmBoots) {
    const kvm = caps.find((c) => c.name === 'kvm')!;
    if (kvm.status === 'OK') {
      const probe = await extra.kvmBoots();
      if (!probe.ok) Object.assign(kvm, { status: 'UNUSABLE', detail: `/dev/kvm present but a guest cannot boot with it: ${probe.detail}`, fix: 'microvm uses TCG (accel = "auto"); run on a host with working KVM for speed' });
      else kvm.detail = `/dev/kvm boots a guest (${probe.detail})`;
    }
  }
  if (extra.guestImage) {
    const img = extra.guestImage();
    caps.push(
      img.ok
        ? { name: 'guest-image', status: 'OK', detail: img.detail, neededBy: ['microvm'] }
        : { name: 'guest-image', status: 'MISSING', detail: img.detail, fix: 'run scripts/setup (builds guest-image/build into /var/cache/vmpod/guest)', neededBy: ['microvm'] },
    );
  }
  return caps;
}

/** Capabilities that block a handler type the config uses. */
export function blocking(cfg: VmpodConfig, caps: Capability[]): Capability[] {
  const used = new Set(Object.values(cfg.runtime.handlers).map((h) => h.type));
  return caps.filter((c) => c.status !== 'OK' && c.neededBy.some((t) => used.has(t)));
}
