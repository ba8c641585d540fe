import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../../../src/log';
import type { RuntimeDeps } from '../../../../src/cri/runtime/deps';
import { selectContainers, type ContainerSelector } from '../../../../src/cri/runtime/container-select';
import { createContainerStore, type ContainerRecord } from '../../../../src/store/container';
import type { ContainerConfig__Output } from '../../../../src/generated/cri/runtime/v1/ContainerConfig';

const dir = mkdtempSync(join(tmpdir(), 'vmpod-select-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const containers = createContainerStore(dir, silentLogger);
containers.load();
const deps = { containers } as unknown as RuntimeDeps;

function add(id: string, pod: string, labels: Record<string, string>, created: boolean): void {
  containers.create({
    id, podSandboxId: pod, config: { labels } as unknown as ContainerConfig__Output, image: 'i', imageId: 'i', imageRef: 'i', logPath: '', stopSignal: 15,
    createdAt: '1', startedAt: '0', finishedAt: '0', state: 'CONTAINER_CREATED', exitCode: 0, reason: '', message: '', resources: null, rootfs: '', upperDir: '',
    runtime: created ? { type: 'microvm' } : null,
  } as ContainerRecord);
}
add('aa1', 'p1', { app: 'web' }, true);
add('aa2', 'p1', { app: 'db' }, true);
add('bb1', 'p2', { app: 'web' }, true);
add('cc1', 'p2', { app: 'web' }, false);

const sel = (s: Partial<ContainerSelector>): ContainerSelector => ({ id: '', pod_sandbox_id: '', label_selector: {}, ...s });
const cases: { desc: string; filter: ContainerSelector | null; want: string[] }[] = [
  { desc: 'no filter: every container but one still being created', filter: null, want: ['aa1', 'aa2', 'bb1'] },
  { desc: 'id prefix', filter: sel({ id: 'aa' }), want: ['aa1', 'aa2'] },
  { desc: 'pod id prefix', filter: sel({ pod_sandbox_id: 'p2' }), want: ['bb1'] },
  { desc: 'labels', filter: sel({ label_selector: { app: 'web' } }), want: ['aa1', 'bb1'] },
  { desc: 'all at once', filter: sel({ id: 'a', pod_sandbox_id: 'p1', label_selector: { app: 'db' } }), want: ['aa2'] },
];
for (const c of cases) {
  t.same(selectContainers(deps, c.filter).map((r) => r.id).sort(), c.want, c.desc);
}
