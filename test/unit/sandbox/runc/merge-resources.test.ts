import t from 'tap';
import { mergeResources } from '../../../../src/sandbox/runc/container';

t.test("a created container's update changes the given fields of each controller and keeps the rest, as runc update does", async (t) => {
  const had = {
    memory: { limit: 100, swap: 200 },
    cpu: { shares: 2, quota: 1000, period: 100000 },
    devices: [{ allow: false, access: 'rwm' }],
  };
  const merged = mergeResources(had, { memory: { limit: 50 }, cpu: { quota: 500 } });
  t.same(merged, { memory: { limit: 50, swap: 200 }, cpu: { shares: 2, quota: 500, period: 100000 }, devices: [{ allow: false, access: 'rwm' }] });
  t.same(had.memory, { limit: 100, swap: 200 }, 'the input is not changed');
  t.same(mergeResources({}, { pids: { limit: 10 } }), { pids: { limit: 10 } }, 'a controller not set before');
  t.same(mergeResources(had, { hugepageLimits: [{ pageSize: '2MB', limit: 1 }] }).hugepageLimits, [{ pageSize: '2MB', limit: 1 }], 'lists are replaced');
});
