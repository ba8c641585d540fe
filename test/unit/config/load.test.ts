import t from 'tap';
import { parseConfig } from '../../../src/config/load';
import { handlerTypes } from '../../../src/sandbox';
import { ConfigError } from '../../../common/errors';

const types = handlerTypes().configs();
const parse = (toml: string, source?: string) => parseConfig(toml, types, source);

const cases: Array<{ desc: string; toml: string; key: string }> = [
  { desc: 'unknown top-level key', toml: 'lisen = "/x"', key: 'lisen' },
  { desc: 'unknown handler key', toml: '[runtime.handlers.vm]\nvcpu = 2', key: 'runtime.handlers.vm.vcpu' },
  { desc: 'wrong type of a handler key', toml: '[runtime.handlers.vm]\nvcpus = "two"', key: 'runtime.handlers.vm.vcpus' },
  { desc: 'a runc handler has no VM keys', toml: '[runtime.handlers.runc]\nvcpus = 2', key: 'runtime.handlers.runc.vcpus' },
  { desc: 'a new handler needs a type', toml: '[runtime.handlers.big]\nvcpus = 4', key: 'runtime.handlers.big.type' },
  { desc: 'the global [microvm] table is gone', toml: '[microvm]\nvcpus = 2', key: 'microvm' },
  { desc: 'bad enum', toml: '[runtime]\ndefault_trust = "maybe"', key: 'runtime.default_trust' },
  { desc: 'relative path', toml: 'root = "var/lib"', key: 'root' },
  { desc: 'unknown registry key', toml: '[registries."127.0.0.1:5000"]\ninsecur = true', key: 'registries.127.0.0.1:5000.insecur' },
  { desc: 'handler type', toml: '[runtime.handlers.x]\ntype = "docker"', key: 'runtime.handlers.x.type' },
  { desc: 'default handler missing', toml: '[runtime]\ndefault_handler = "nope"', key: 'runtime.default_handler' },
  { desc: 'untrusted handler must run pods in a VM', toml: '[runtime]\nuntrusted_handler = "runc"', key: 'runtime.untrusted_handler' },
];

for (const c of cases) {
  t.test(c.desc, async (t) => {
    const err = t.throws(() => parse(c.toml)) as unknown;
    t.ok(err instanceof ConfigError, 'is a ConfigError');
    t.equal((err as ConfigError).key, c.key, 'names the key');
    t.match((err as Error).message, c.key);
  });
}

t.test('defaults apply where keys are absent and values override', async (t) => {
  const cfg = parse('log_level = "debug"\n[runtime.handlers.vm]\nvcpus = 2\n[registries."127.0.0.1:5000"]\ninsecure = true');
  t.equal(cfg.log_level, 'debug');
  t.match(cfg.runtime.handlers.vm, { type: 'microvm', vcpus: 2, memory_mib: 512, accel: 'auto' }, 'the built-in vm handler keeps its type and other defaults');
  t.equal(cfg.listen, '/run/vmpod/vmpod.sock');
  t.same(cfg.registries['127.0.0.1:5000'], { insecure: true, mirrors: [] });
  t.same(Object.keys(cfg.runtime.handlers).sort(), ['runc', 'vm']);
});

t.test('two VM handlers with their own settings', async (t) => {
  const cfg = parse('[runtime.handlers.big]\ntype = "microvm"\nvcpus = 4\nmemory_mib = 4096\n[runtime.handlers.vm]\nvcpus = 1');
  t.match(cfg.runtime.handlers.big, { type: 'microvm', vcpus: 4, memory_mib: 4096, boot_timeout_s: 120 }, "a new handler gets its type's defaults");
  t.match(cfg.runtime.handlers.vm, { type: 'microvm', vcpus: 1, memory_mib: 512 });
  t.same(Object.keys(cfg.runtime.handlers).sort(), ['big', 'runc', 'vm']);
});

t.test('invalid TOML is reported as such', async (t) => {
  t.throws(() => parse('listen = ', '/etc/x.toml'), /\/etc\/x\.toml: not valid TOML/);
});

t.test('[images]: the pull limits, defaults where absent, refusals named', async (t) => {
  const d = parse('');
  t.ok(d.images.max_layer_bytes > 0 && d.images.max_image_bytes >= d.images.max_layer_bytes, 'defaults');
  const c = parse('[images]\nmax_layer_bytes = 1_073_741_824\nmin_free_bytes = 0\n');
  t.equal(c.images.max_layer_bytes, 1073741824);
  t.equal(c.images.min_free_bytes, 0);
  t.equal(c.images.max_image_bytes, d.images.max_image_bytes, 'the others keep their defaults');
  t.throws(() => parse('[images]\nmax_layer_size = 1\n'), /max_layer_size/);
  t.throws(() => parse('[images]\nmax_layer_bytes = 0\n'), ConfigError);
});
