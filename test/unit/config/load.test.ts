import t from 'tap';
import { parseConfig } from '../../../src/config/load';
import { ConfigError } from '../../../common/errors';

const cases: Array<{ desc: string; toml: string; key: string }> = [
  { desc: 'unknown top-level key', toml: 'lisen = "/x"', key: 'lisen' },
  { desc: 'unknown nested key', toml: '[microvm]\nvcpu = 2', key: 'microvm.vcpu' },
  { desc: 'wrong type', toml: '[microvm]\nvcpus = "two"', key: 'microvm.vcpus' },
  { desc: 'bad enum', toml: '[runtime]\ndefault_trust = "maybe"', key: 'runtime.default_trust' },
  { desc: 'relative path', toml: 'root = "var/lib"', key: 'root' },
  { desc: 'unknown registry key', toml: '[registries."127.0.0.1:5000"]\ninsecur = true', key: 'registries.127.0.0.1:5000.insecur' },
  { desc: 'handler type', toml: '[runtime.handlers.x]\ntype = "docker"', key: 'runtime.handlers.x.type' },
  { desc: 'default handler missing', toml: '[runtime]\ndefault_handler = "nope"', key: 'runtime.default_handler' },
  { desc: 'untrusted handler must be microvm', toml: '[runtime]\nuntrusted_handler = "runc"', key: 'runtime.untrusted_handler' },
];

for (const c of cases) {
  t.test(c.desc, async (t) => {
    const err = t.throws(() => parseConfig(c.toml)) as unknown;
    t.ok(err instanceof ConfigError, 'is a ConfigError');
    t.equal((err as ConfigError).key, c.key, 'names the key');
    t.match((err as Error).message, c.key);
  });
}

t.test('defaults apply where keys are absent and values override', async (t) => {
  const cfg = parseConfig('log_level = "debug"\n[microvm]\nvcpus = 2\n[registries."127.0.0.1:5000"]\ninsecure = true');
  t.equal(cfg.log_level, 'debug');
  t.equal(cfg.microvm.vcpus, 2);
  t.equal(cfg.microvm.memory_mib, 512);
  t.equal(cfg.listen, '/run/vmpod/vmpod.sock');
  t.same(cfg.registries['127.0.0.1:5000'], { insecure: true, mirrors: [] });
  t.same(Object.keys(cfg.runtime.handlers).sort(), ['runc', 'vm']);
});

t.test('invalid TOML is reported as such', async (t) => {
  t.throws(() => parseConfig('listen = ', '/etc/x.toml'), /\/etc\/x\.toml: not valid TOML/);
});
