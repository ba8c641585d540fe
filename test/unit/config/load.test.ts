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

t.test('[registries."<host>".auth]: one form of credentials per host, kept as given', async (t) => {
  const b64 = Buffer.from('bob:pw').toString('base64');
  const cfg = parse(
    [
      '[registries."registry.example"]',
      'mirrors = ["mirror.example:5000"]',
      '[registries."registry.example".auth]',
      'username = "alice"',
      'password = "s3cret"',
      '[registries."mirror.example:5000".auth]',
      `auth = "${b64}"`,
      '[registries."quay.example".auth]',
      'identity_token = "refresh-123"',
    ].join('\n'),
  );
  t.same(cfg.registries['registry.example'], { insecure: false, mirrors: ['mirror.example:5000'], auth: { username: 'alice', password: 's3cret' } });
  t.same(cfg.registries['mirror.example:5000'], { insecure: false, mirrors: [], auth: { auth: b64 } }, 'a host with only an auth table gets the other defaults');
  t.same(cfg.registries['quay.example'].auth, { identity_token: 'refresh-123' });
  t.same(parse('[registries."h.example".auth]\nusername = "u"\n').registries['h.example'].auth, { username: 'u' }, 'a username without a password is allowed (an empty password)');
});

const authRefusals: { desc: string; auth: string; problem: RegExp }[] = [
  { desc: 'username/password and auth', auth: `username = "u"\npassword = "p"\nauth = "${Buffer.from('u:p').toString('base64')}"`, problem: /give username\/password and auth; keep one form/ },
  { desc: 'auth and identity_token', auth: `auth = "${Buffer.from('u:p').toString('base64')}"\nidentity_token = "t"`, problem: /give auth and identity_token/ },
  { desc: 'an empty username', auth: 'username = ""\npassword = "p"', problem: /empty username/ },
  { desc: 'a password without a username', auth: 'password = "p"', problem: /empty username/ },
  { desc: 'an auth with an empty username', auth: `auth = "${Buffer.from(':p').toString('base64')}"`, problem: /empty username \(in auth\)/ },
  { desc: 'an auth that is not user:pass', auth: `auth = "${Buffer.from('nocolon').toString('base64')}"`, problem: /base64 of "username:password"/ },
  { desc: 'an empty identity_token', auth: 'identity_token = ""', problem: /empty identity_token/ },
  { desc: 'an empty table', auth: '', problem: /need one of username\/password, auth or identity_token/ },
];

for (const c of authRefusals) {
  t.test(`[registries."<host>".auth] refused at load: ${c.desc}`, async (t) => {
    const err = t.throws(() => parse(`[registries."mirror.example:5000".auth]\n${c.auth}\n`)) as unknown;
    t.ok(err instanceof ConfigError, 'is a ConfigError');
    t.equal((err as ConfigError).key, 'registries."mirror.example:5000".auth', 'names the host');
    t.match((err as Error).message, c.problem);
    t.match((err as Error).message, /mirror\.example:5000/, 'the message names the host');
  });
}

t.test('[registries."<host>".auth]: an unknown key is refused by name', async (t) => {
  const err = t.throws(() => parse('[registries."h.example".auth]\nidentitytoken = "t"\n')) as ConfigError;
  t.equal(err.key, 'registries.h.example.auth.identitytoken', "containerd's spelling is not taken: identity_token, as in the CRI AuthConfig");
});

t.test('a VM handler bounds the TCG buffer and reports free pages by default; both can be set', async (t) => {
  t.match(parse('').runtime.handlers.vm, { tcg_tb_size_mib: 256, free_page_reporting: true, memory_merge: false });
  t.match(parse('[runtime.handlers.vm]\nmemory_merge = true\n').runtime.handlers.vm, { memory_merge: true }, 'memory_merge is opt-in');
  t.match(parse('[runtime.handlers.vm]\ntcg_tb_size_mib = 0\nfree_page_reporting = false\n').runtime.handlers.vm, { tcg_tb_size_mib: 0, free_page_reporting: false }, "0: QEMU's own default");
  t.throws(() => parse('[runtime.handlers.vm]\ntcg_tb_size_mib = 4096\n'), /tcg_tb_size_mib/, 'beyond what QEMU takes');
  t.throws(() => parse('[runtime.handlers.vm]\nfree_page_reporting = "yes"\n'), /free_page_reporting/);
  t.throws(() => parse('[runtime.handlers.vm]\nmemory_merge = 1\n'), /memory_merge/);
});
