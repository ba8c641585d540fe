// The pure parts of the pool of pre-booted VMs (sandbox/microvm/pool.ts) and
// the allocator hand-over it relies on: a pool VM's uid and CID become the
// pod's, never copied, so that no two owners hold one.
import t from 'tap';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CidAllocator } from '../../../../src/hypervisor/vsock-cid';
import { QemuUidAllocator } from '../../../../src/hypervisor/qemu-uid';
import type { MicrovmConfig } from '../../../../src/config/types';
import type { Hypervisor } from '../../../../src/hypervisor';
import { silentLogger } from '../../../../src/log';
import type { NetworkedCreateInput } from '../../../../src/sandbox/controller';
import type { PodVmEnv } from '../../../../src/sandbox/microvm/pod-vm';
import { fitsPoolVm, POOL_NAME_PREFIX, poolRoot, VmPool } from '../../../../src/sandbox/microvm/pool';
import { renamedLaunchRecord } from '../../../../src/sandbox/microvm/pool-hand-out';
import { podPaths, vmRunPaths } from '../../../../src/sandbox/microvm/layout';

function tmpDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-pool-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

t.test('poolRoot: one dir per handler under the state dir, the handler name made a safe path component', async (t) => {
  t.equal(poolRoot('/s', 'vm'), '/s/microvm-pool/vm');
  t.equal(poolRoot('/s', '../x/y'), '/s/microvm-pool/.._x_y', 'no slash gets through');
});

t.test('pool names are valid ids for the pod layout and never a kubelet pod id (64 hex digits)', async (t) => {
  const name = `${POOL_NAME_PREFIX}0123456789abcdef`;
  t.doesNotThrow(() => podPaths('/s', name));
  t.doesNotThrow(() => vmRunPaths('/s', name));
  t.notMatch(name, /^[0-9a-f]{64}$/);
});

t.test('fitsPoolVm: only a pod of exactly the pool VM size takes it', async (t) => {
  t.ok(fitsPoolVm({ vcpus: 1, memoryMib: 512 }, { vcpus: 1, memoryMib: 512 }));
  t.notOk(fitsPoolVm({ vcpus: 2, memoryMib: 512 }, { vcpus: 1, memoryMib: 512 }), 'more vCPUs');
  t.notOk(fitsPoolVm({ vcpus: 1, memoryMib: 768 }, { vcpus: 1, memoryMib: 512 }), 'more memory');
  t.notOk(fitsPoolVm({ vcpus: 1, memoryMib: 256 }, { vcpus: 1, memoryMib: 512 }), 'less memory: the cgroup limit would be below the guest RAM');
});

t.test('renamedLaunchRecord: paths under the old run dir move, others stay, the id and the pool netns go', async (t) => {
  const rec = {
    version: 1,
    id: 'vmpool-1',
    pid: 42,
    startTime: '7',
    qmpSocket: '/run/vmpod/s/aaa/qmp.sock',
    agentSocket: '/run/vmpod/s/aaa/agent.sock',
    consoleLog: '/run/vmpod/s/aaa/console.log',
    stderrLog: '/run/vmpod/s/aaa/qemu.stderr',
    netnsPath: '/s/microvm-pool/vm/netns/vmpool-1',
    other: '/run/vmpod/s/aaab/x',
  };
  const out = renamedLaunchRecord(rec, '/run/vmpod/s/aaa', '/run/vmpod/s/bbb', 'pod1');
  t.same(out, {
    version: 1,
    id: 'pod1',
    pid: 42,
    startTime: '7',
    qmpSocket: '/run/vmpod/s/bbb/qmp.sock',
    agentSocket: '/run/vmpod/s/bbb/agent.sock',
    consoleLog: '/run/vmpod/s/bbb/console.log',
    stderrLog: '/run/vmpod/s/bbb/qemu.stderr',
    other: '/run/vmpod/s/aaab/x',
  });
  t.equal(rec.id, 'vmpool-1', 'the input is not changed');
});

t.test('QemuUidAllocator.transfer: the uid changes owner, the old owner has none', async (t) => {
  const a = new QemuUidAllocator(join(tmpDir(t), 'uids.json'));
  const uid = a.allocate('vmpool-1');
  t.equal(a.transfer('vmpool-1', 'pod1'), true);
  t.equal(a.lookup('pod1'), uid);
  t.equal(a.lookup('vmpool-1'), undefined);
  t.equal(a.transfer('vmpool-1', 'pod2'), false, 'nothing left to give');
  t.equal(a.allocate('pod2'), uid + 1, 'the uid stays taken');
});

t.test('CidAllocator.transfer: the CID changes owner and stays taken', async (t) => {
  const file = join(tmpDir(t), 'cids.json');
  const a = new CidAllocator(file);
  const cid = a.allocate('vmpool-1');
  t.equal(a.transfer('vmpool-1', 'pod1'), true);
  t.equal(a.lookup('pod1'), cid);
  t.equal(a.lookup('vmpool-1'), undefined);
  t.equal(new CidAllocator(file).lookup('pod1'), cid, 'persisted');
  t.not(a.allocate('pod2'), cid);
});

t.test('start() removes what a killed daemon left: each pool VM killed through its run dir, its files, netns pin and uid, its template state; other pods untouched', async (t) => {
  const state = tmpDir(t);
  const root = poolRoot(state, 'vm');
  const left = `${POOL_NAME_PREFIX}00000000000000aa`;
  const onlyPin = `${POOL_NAME_PREFIX}00000000000000bb`;
  const neverMade = `${POOL_NAME_PREFIX}00000000000000cc`;
  mkdirSync(join(podPaths(root, left).shareSource, 'pod'), { recursive: true });
  mkdirSync(join(root, 'netns'), { recursive: true });
  writeFileSync(join(root, 'netns', onlyPin), '');
  // A killed daemon's template: the state file outlived the memfd it was saved with.
  mkdirSync(join(root, 'template'), { recursive: true });
  writeFileSync(join(root, 'template', `${left}.state`), 'state');
  mkdirSync(join(state, 'sandboxes', 'pod1'), { recursive: true });
  const uids = new QemuUidAllocator(join(state, 'uids.json'));
  uids.allocate(left);
  uids.allocate(neverMade);
  uids.allocate('pod1');
  const destroyed: string[] = [];
  const hypervisor = { destroy: async (d: string) => void destroyed.push(d) } as unknown as Hypervisor;
  const env = { state, microvm: {} as MicrovmConfig, hypervisor, host: () => Promise.reject(new Error('no host in this test')), uids, agentCallTimeoutMs: 1000 } satisfies PodVmEnv;
  const pool = new VmPool(env, 'vm', 0, silentLogger);
  await pool.start();
  t.ok(destroyed.includes(vmRunPaths(root, left).dir), "the leftover VM's run dir is destroyed (its QEMU killed by the launch record's PID)");
  t.ok(destroyed.includes(vmRunPaths(root, onlyPin).dir), 'so is that of a VM known only by its netns pin');
  t.notOk(existsSync(podPaths(root, left).dir), 'its pod-layout dir is gone');
  t.notOk(existsSync(join(root, 'netns', onlyPin)), 'the netns pin is gone');
  t.notOk(existsSync(join(root, 'template')), "the killed daemon's template state is gone (useless without its RAM)");
  t.equal(uids.lookup(left), undefined, 'its uid is free');
  t.equal(uids.lookup(neverMade), undefined, 'so is the uid of a pool VM whose files were never made');
  t.not(uids.lookup('pod1'), undefined, "a pod's uid stays");
  t.ok(existsSync(join(state, 'sandboxes', 'pod1')), "a pod's dir stays");
  t.notOk(
    destroyed.some((d) => d.includes('pod1')),
    'no pod VM is touched',
  );
  t.equal(await pool.startPod({} as NetworkedCreateInput), undefined, 'a pool of size 0 hands out nothing');
});
