// CRI devices → OCI device nodes plus the cgroup rules that let them be used.

import { InvalidArgumentError } from '../../common/errors';
import type { Device__Output } from '../generated/cri/runtime/v1/Device';
import type { HostFacts } from './input';
import type { OciDevice, OciDeviceRule } from './types';

export function resolveDevices(devices: readonly Device__Output[], host: HostFacts): { devices: OciDevice[]; rules: OciDeviceRule[] } {
  const out: OciDevice[] = [];
  const rules: OciDeviceRule[] = [];
  devices.forEach((d, i) => {
    const st = host.statDevice(d.host_path);
    if (!st) throw new InvalidArgumentError(`config.devices[${i}].host_path`, `"${d.host_path}" is not a device node on the host`);
    const perms = d.permissions || 'rwm';
    if (!/^[rwm]+$/.test(perms)) throw new InvalidArgumentError(`config.devices[${i}].permissions`, `"${perms}" is not a combination of r, w, m`);
    out.push({ ...st, path: d.container_path || d.host_path });
    if (st.type === 'c' || st.type === 'b') rules.push({ allow: true, type: st.type, major: st.major, minor: st.minor, access: perms });
  });
  return { devices: out, rules };
}
