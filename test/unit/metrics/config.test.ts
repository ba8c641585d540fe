// The [metrics] table: off by default, and a bad table is a start-up error naming the key.

import t from 'tap';
import { ConfigError } from '../../../common/errors';
import { parseConfig } from '../../../src/config/load';
import { handlerTypes } from '../../../src/sandbox';

const parse = (toml: string) => parseConfig(toml, handlerTypes().configs());

t.test('defaults: off, on 127.0.0.1:9464', async (t) => {
  t.same(parse('').metrics, { enabled: false, address: '127.0.0.1:9464' });
});

t.test('enabled with an address', async (t) => {
  t.same(parse('[metrics]\nenabled = true\naddress = "[::1]:9100"').metrics, { enabled: true, address: '[::1]:9100' });
});

const bad: { desc: string; toml: string; key: string }[] = [
  { desc: 'an address without a port', toml: '[metrics]\naddress = "127.0.0.1"', key: 'metrics.address' },
  { desc: 'an IPv6 address without brackets', toml: '[metrics]\naddress = "::1:9464"', key: 'metrics.address' },
  { desc: 'enabled as a string', toml: '[metrics]\nenabled = "yes"', key: 'metrics.enabled' },
  { desc: 'a misspelt key', toml: '[metrics]\nenable = true', key: 'metrics.enable' },
];
for (const c of bad) {
  t.test(c.desc, async (t) => {
    const err = t.throws(() => parse(c.toml)) as unknown;
    t.ok(err instanceof ConfigError, 'a ConfigError');
    t.equal((err as ConfigError).key, c.key, 'names the key');
  });
}
