// What "privileged" means for a container in the guest (containerd's
// `privileged_without_host_devices`, as Kata runs it): privileged inside the
// VM, with the guest's own devices and never the host's.
//
//   * capabilities: every one the agent holds (it runs as the guest's root);
//   * devices: every device node of the guest's /dev, and the device cgroup
//     lets it use them. These are the VM's virtual devices; the host sends no
//     device of its own (the host refuses CRI devices for VM pods and its
//     spec lists none);
//   * the host's spec already leaves out seccomp, masked and read-only paths
//     and mounts /sys read-write (src/oci, as for a runc privileged container).
//
// This reaches nothing of the host: the container is as strong as the
// guest's root, which the host already treats as hostile. Everything the
// guest can touch on the host goes through QEMU (9p confined to the pod's
// share, the tap in the pod's netns, the agent channel), whatever runs in it.

import { lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { capabilitiesFromMask } from '../../common/capabilities';
import type { OciSpec } from './spec';

export interface GuestDevice {
  path: string;
  type: 'c' | 'b';
  major: number;
  minor: number;
  fileMode: number;
  uid: number;
  gid: number;
}

export interface PrivilegedFacts {
  /** CAP_* names the agent holds (its effective set). */
  capabilities: readonly string[];
  devices: readonly GuestDevice[];
}

/** Directories under /dev that are not device inventories (runc's GetDevices skips the same). */
const SKIPPED_DIRS = new Set(['pts', 'shm', 'fd', 'mqueue', '.lxc', '.lxd-mounts', '.udev']);
/** The OCI runtime sets up /dev/console for a container with a terminal itself (crun binds its pty there). */
const SKIPPED_FILES = new Set(['console']);
/** A /dev larger than this is not a VM's: stop there rather than build a huge spec. */
export const MAX_GUEST_DEVICES = 4096;

/** glibc's major()/minor() of a 64-bit dev_t. */
export function devMajorMinor(rdev: bigint): { major: number; minor: number } {
  const major = ((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & 0xfffff000n);
  const minor = (rdev & 0xffn) | ((rdev >> 12n) & 0xffffff00n);
  return { major: Number(major), minor: Number(minor) };
}

/** Every character and block device node below `devDir` (symlinks and the directories above skipped). */
export function guestDevices(devDir = '/dev'): GuestDevice[] {
  const out: GuestDevice[] = [];
  const walk = (dir: string, rel: string): void => {
    let names: string[];
    try {
      names = readdirSync(dir).sort();
    } catch {
      return;
    }
    for (const name of names) {
      if (out.length >= MAX_GUEST_DEVICES) return;
      const path = join(dir, name);
      let st;
      try {
        st = lstatSync(path, { bigint: true });
      } catch {
        continue; // gone meanwhile
      }
      if (st.isDirectory()) {
        if (!SKIPPED_DIRS.has(name)) walk(path, join(rel, name));
      } else if ((st.isCharacterDevice() || st.isBlockDevice()) && !SKIPPED_FILES.has(name)) {
        out.push({
          path: join('/dev', rel, name),
          type: st.isCharacterDevice() ? 'c' : 'b',
          ...devMajorMinor(st.rdev),
          fileMode: Number(st.mode & 0o7777n),
          uid: Number(st.uid),
          gid: Number(st.gid),
        });
      }
    }
  };
  walk(devDir, '');
  return out;
}

/** The capabilities in a /proc/<pid>/status text's CapEff line. */
export function effectiveCapabilities(statusText: string): string[] {
  const hex = /^CapEff:\s*([0-9a-fA-F]+)\s*$/m.exec(statusText)?.[1];
  return hex ? [...capabilitiesFromMask(hex)] : [];
}

/** The container spec, made privileged inside the guest (pure). */
export function privilegedSpec(spec: OciSpec, facts: PrivilegedFacts): OciSpec {
  const caps = [...facts.capabilities];
  const linux = { ...(spec.linux ?? {}) };
  const resources = { ...((linux.resources as Record<string, unknown> | undefined) ?? {}) };
  resources.devices = [{ allow: true, access: 'rwm' }];
  return {
    ...spec,
    process: spec.process && { ...spec.process, capabilities: processCapabilities(caps) },
    linux: { ...linux, resources, devices: facts.devices.map((d) => ({ ...d })) },
  };
}

/** OCI process capabilities: all of `caps` in the bounding, effective and permitted sets. */
export function processCapabilities(caps: readonly string[]): Record<string, string[]> {
  return { bounding: [...caps], effective: [...caps], permitted: [...caps], inheritable: [], ambient: [] };
}
