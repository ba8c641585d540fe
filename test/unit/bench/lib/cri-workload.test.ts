import t from 'tap';
import { containerConfig, podConfig, type Workload } from '../../../../bench/lib/cri-workload';

const w: Workload = { image: '127.0.0.1:5000/bench/busybox:v1', command: ['/bin/sleep', '3600'], cgroupParent: 'vmpod-bench-ab12', logDir: '/tmp/x/logs', bench: 'runc-pod' };

t.test('pods: a fresh uid each, a cgroup parent per pod under the bench parent, the bench label', async (t) => {
  const a = podConfig(w, 'pod-0');
  const b = podConfig(w, 'pod-0');
  t.not(a.metadata!.uid, b.metadata!.uid, 'two pods of the same name are distinct pods');
  t.equal(a.linux!.cgroup_parent, `/vmpod-bench-ab12/pod${a.metadata!.uid}`);
  t.equal(a.log_directory, `/tmp/x/logs/pod-0-${a.metadata!.uid}`);
  t.same(a.labels, { bench: 'runc-pod' });
  t.same(a.annotations, {});
  t.same(a.linux!.security_context!.namespace_options, { network: 'POD', pid: 'CONTAINER', ipc: 'POD' });
});

t.test('pods carry the workload annotations (e.g. untrusted for VM pods)', async (t) => {
  const p = podConfig({ ...w, annotations: { 'io.kubernetes.cri.untrusted-workload': 'true' } }, 'vm');
  t.same(p.annotations, { 'io.kubernetes.cri.untrusted-workload': 'true' });
});

t.test('containers: command split into command and args, image, log path', async (t) => {
  const c = containerConfig(w, 'sleep');
  t.same(c.command, ['/bin/sleep']);
  t.same(c.args, ['3600']);
  t.same(c.image, { image: w.image });
  t.equal(c.log_path, 'sleep.log');
  t.same(c.metadata, { name: 'sleep', attempt: 0 });
});
