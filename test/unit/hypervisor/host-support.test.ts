import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveVmHost } from '../../../src/hypervisor/host-support';
import { ConfigError } from '../../../common/errors';
import type { MicrovmConfig } from '../../../src/config/types';

const dir = mkdtempSync(join(tmpdir(), 'vmpod-host-support-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const present = join(dir, 'present-device');
writeFileSync(present, '');
const absent = join(dir, 'absent-device');

type Cfg = Pick<MicrovmConfig, 'accel' | 'agent_transport' | 'qemu_binary'>;
const cases: Array<{ desc: string; cfg: Cfg; kvm: string; vsock: string; expect: { accel: string; transport: string } | { configKey: string } }> = [
  {
    desc: 'auto everything on a bare host: tcg + serial',
    cfg: { accel: 'auto', agent_transport: 'auto', qemu_binary: 'q' },
    kvm: absent,
    vsock: absent,
    expect: { accel: 'tcg', transport: 'serial' },
  },
  { desc: 'auto transport with vhost-vsock: vsock', cfg: { accel: 'tcg', agent_transport: 'auto', qemu_binary: 'q' }, kvm: absent, vsock: present, expect: { accel: 'tcg', transport: 'vsock' } },
  { desc: 'explicit serial even with vsock', cfg: { accel: 'tcg', agent_transport: 'serial', qemu_binary: 'q' }, kvm: absent, vsock: present, expect: { accel: 'tcg', transport: 'serial' } },
  {
    desc: 'explicit kvm without /dev/kvm is a config error',
    cfg: { accel: 'kvm', agent_transport: 'auto', qemu_binary: 'q' },
    kvm: absent,
    vsock: absent,
    expect: { configKey: 'runtime.handlers.vm.accel' },
  },
  {
    desc: 'explicit vsock without the device is a config error',
    cfg: { accel: 'tcg', agent_transport: 'vsock', qemu_binary: 'q' },
    kvm: absent,
    vsock: absent,
    expect: { configKey: 'runtime.handlers.vm.agent_transport' },
  },
];

for (const c of cases) {
  t.test(c.desc, async (t) => {
    const p = resolveVmHost(c.cfg, { kvmDevice: c.kvm, vsockDevice: c.vsock, configKey: 'runtime.handlers.vm' });
    if ('configKey' in c.expect) {
      const err = await p.catch((e: unknown) => e);
      t.ok(err instanceof ConfigError, 'ConfigError');
      t.equal((err as ConfigError).key, c.expect.configKey);
    } else {
      const r = await p;
      t.equal(r.accel.accel, c.expect.accel);
      t.equal(r.agentTransport.transport, c.expect.transport);
      t.ok(r.agentTransport.reason.length > 0, 'says why');
    }
  });
}
