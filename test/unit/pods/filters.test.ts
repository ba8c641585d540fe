import t from 'tap';
import { selectContainers, type ContainerFilter } from '../../../src/pods/filters';
import type { ContainerRecord } from '../../../src/store/container';

const rec = (id: string, pod: string, labels: Record<string, string>, created: boolean) =>
  ({ id, podSandboxId: pod, config: { labels }, controller: created ? {} : null }) as unknown as ContainerRecord;
const all = [rec('aa1', 'p1', { app: 'web' }, true), rec('aa2', 'p1', { app: 'db' }, true), rec('bb1', 'p2', { app: 'web' }, true), rec('cc1', 'p2', { app: 'web' }, false)];

const cases: { desc: string; filter: ContainerFilter | undefined; want: string[] }[] = [
  { desc: 'no filter: every container but one still being created', filter: undefined, want: ['aa1', 'aa2', 'bb1'] },
  { desc: 'id prefix', filter: { id: 'aa' }, want: ['aa1', 'aa2'] },
  { desc: 'pod id prefix', filter: { podSandboxId: 'p2' }, want: ['bb1'] },
  { desc: 'labels', filter: { labels: { app: 'web' } }, want: ['aa1', 'bb1'] },
  { desc: 'all at once', filter: { id: 'a', podSandboxId: 'p1', labels: { app: 'db' } }, want: ['aa2'] },
];
for (const c of cases)
  t.same(
    selectContainers(all, c.filter)
      .map((r) => r.id)
      .sort(),
    c.want,
    c.desc,
  );
