// What the spec generator needs to know about this host, read once from /proc
// and /sys. The generator itself stays pure; this is its only window.

import { existsSync, readFileSync, readdirSync, lstatSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { HostFacts } from '../oci/input';
import type { OciDevice } from '../oci/types';
import { capabilitiesFromMask } from '../../common/capabilities';

export function cgroupVersion(): 1 | 2 {
  // cgroup v2's unified root has cgroup.controllers; v1 mounts a tmpfs of hierarchies.
  return existsSync('/sys/fs/cgroup/cgroup.controllers') ? 2 : 1;
}

function statDevice(path: string): Omit<OciDevice, 'path'> | null {
  try {
    const st = statSync(path);
    const type = st.isCharacterDevice() ? 'c' : st.isBlockDevice() ? 'b' : null;
    if (!type) return null;
    const rdev = st.rdev;
    // glibc's gnu_dev_major/minor encoding.
    const major = ((rdev >> 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff);
    const minor = (rdev & 0xff) | ((rdev >> 12) & 0xfff00);
    return { type, major, minor, fileMode: st.mode & 0o777, uid: st.uid, gid: st.gid };
  } catch {
    return null;
  }
}

function hostDevices(dir = '/dev'): OciDevice[] {
  const out: OciDevice[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    // /dev/pts and /dev/shm are mounted separately; /dev/console belongs to the host.
    if (p === '/dev/pts' || p === '/dev/shm' || p === '/dev/mqueue' || p === '/dev/console') continue;
    let st;
    try {
      st = lstatSync(p);
    } catch {
      continue;
    }
    if (st.isDirectory()) out.push(...hostDevices(p));
    else if (st.isCharacterDevice() || st.isBlockDevice()) {
      const d = statDevice(p);
      if (d) out.push({ ...d, path: p });
    }
  }
  return out;
}

export function readHostFacts(): HostFacts {
  const status = readFileSync('/proc/self/status', 'utf8');
  const capEff = /^CapEff:\s*([0-9a-f]+)$/m.exec(status)?.[1] ?? '0';
  const version = cgroupVersion();
  return {
    capabilities: capabilitiesFromMask(capEff),
    oomScoreAdj: Number(readFileSync('/proc/self/oom_score_adj', 'utf8').trim()),
    cgroupVersion: version,
    swapAccounting: version === 1 && existsSync('/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes'),
    pathExists: (p) => existsSync(p),
    statDevice,
    hostDevices: () => hostDevices(),
    readFile: (p) => readFileSync(p, 'utf8'),
  };
}
