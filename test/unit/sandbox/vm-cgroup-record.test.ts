import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readVmCgroupRecord, VM_CGROUP_RECORD, writeVmCgroupRecord } from '../../../src/sandbox/vm-pod-host';

t.test('the VM cgroup record: what a removal by pod id finds', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-cgrec-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  t.same(await readVmCgroupRecord(dir), [], 'no record (a pod of an earlier version, or one that failed before): nothing to remove');
  const dirs = ['/sys/fs/cgroup/memory/kp/vmpod-a/vmm', '/sys/fs/cgroup/memory/kp/vmpod-a'];
  await writeVmCgroupRecord(dir, dirs);
  t.same(await readVmCgroupRecord(dir), dirs, 'round trip, order kept (leaves first)');
  writeFileSync(join(dir, VM_CGROUP_RECORD), JSON.stringify({ v: 1, dirs: ['/etc', '/sys/fs/cgroup/../../etc', 7, '/sys/fs/cgroup/pids/x'] }));
  t.same(await readVmCgroupRecord(dir), ['/sys/fs/cgroup/pids/x'], 'only cgroup dirs are taken from it');
  writeFileSync(join(dir, VM_CGROUP_RECORD), '{torn');
  t.same(await readVmCgroupRecord(dir), [], 'a torn record reads as none');
});
