import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchArgv, launchQemu, readLaunchRecord } from '../../../../src/hypervisor/qemu/launch';
import { processStartTime } from '../../../../src/hypervisor/qemu/proc';
import type { VmConfig } from '../../../../src/hypervisor/vm-config';
import { InternalError, NotFoundError } from '../../../../common/errors';

function tmp(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-launch-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function cfg(runDir: string, over: Partial<VmConfig> = {}): VmConfig {
  return { id: 'p', runDir, accel: 'tcg', vcpus: 1, memoryMib: 128, paused: true, agent: { transport: 'serial', socketPath: join(runDir, 'agent.sock') }, ...over };
}

t.test('argv runs QEMU under setpriv, and that through nsenter into the pinned netns', async (t) => {
  const setpriv = ['setpriv', '--bounding-set=-all,+dac_override,+dac_read_search,+fowner', '--inh-caps=-all', '--ambient-caps=-all', '--'];
  const plain = launchArgv(cfg('/r'), { qemuBinary: '/usr/bin/qemu-system-x86_64' });
  t.same(plain.slice(0, 6), [...setpriv, '/usr/bin/qemu-system-x86_64'], 'capabilities bounded, then QEMU');
  const ns = launchArgv(cfg('/r', { netnsPath: '/run/netns/vmpod-p' }), { qemuBinary: '/usr/bin/qemu-system-x86_64' });
  t.same(ns.slice(0, 9), ['nsenter', '--net=/run/netns/vmpod-p', '--', ...setpriv, '/usr/bin/qemu-system-x86_64'], 'the netns is entered before the capabilities go');
  t.same(ns.slice(9), plain.slice(6), 'same QEMU args either way');
});

t.test('launch record: missing is NotFoundError, garbage and wrong shape are InternalError', async (t) => {
  const dir = tmp(t);
  t.throws(() => readLaunchRecord(dir), NotFoundError);
  writeFileSync(join(dir, 'vm.json'), '{not json');
  t.throws(() => readLaunchRecord(dir), InternalError);
  writeFileSync(join(dir, 'vm.json'), JSON.stringify({ version: 99, pid: 1 }));
  t.throws(() => readLaunchRecord(dir), InternalError);
});

t.test('process start time: ours is known, a free PID has none', async (t) => {
  t.type(processStartTime(process.pid), 'string');
  t.equal(processStartTime(2 ** 22 + 12345), undefined);
});

t.test('a missing QEMU binary fails qemu-start with a typed error', async (t) => {
  const dir = tmp(t);
  const err = await launchQemu(cfg(dir), { qemuBinary: join(dir, 'no-such-qemu'), qmpTimeoutMs: 3000 }).catch((e: unknown) => e);
  t.ok(err instanceof InternalError, 'InternalError');
  t.match((err as Error).message, /qemu-start/);
});
