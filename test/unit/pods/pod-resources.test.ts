import t from 'tap';
import { sumLimits } from '../../../src/pods/pod-resources';

const MIB = 1024 * 1024;

t.test('sumLimits: quotas over one period, memory added, unlimited adds nothing', async (t) => {
  t.same(
    sumLimits([
      { cpu_quota: '50000', cpu_period: '100000', memory_limit_in_bytes: String(128 * MIB) },
      { cpu_quota: '25000', cpu_period: '50000', memory_limit_in_bytes: '0' },
      null,
      { cpu_quota: '-1', cpu_period: '100000', memory_limit_in_bytes: String(64 * MIB) },
    ]),
    { cpu_quota: '100000', cpu_period: '100000', memory_limit_in_bytes: String(192 * MIB) },
  );
  t.same(sumLimits([]), { cpu_quota: '0', cpu_period: '100000', memory_limit_in_bytes: '0' });
});
