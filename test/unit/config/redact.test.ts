// What `crictl info` shows of the config: registry credentials redacted,
// everything else as loaded.

import t from 'tap';
import { parseConfig } from '../../../src/config/load';
import { REDACTED, withoutSecrets } from '../../../src/config/redact';
import { handlerTypes } from '../../../src/sandbox';

const cfg = parseConfig(
  [
    '[registries."registry.example"]',
    'mirrors = ["mirror.example"]',
    '[registries."registry.example".auth]',
    'username = "alice"',
    'password = "s3cret"',
    '[registries."mirror.example".auth]',
    `auth = "${Buffer.from('bob:hunter2').toString('base64')}"`,
    '[registries."quay.example".auth]',
    'identity_token = "refresh-123"',
    '[registries."plain.example"]',
    'insecure = true',
  ].join('\n'),
  handlerTypes().configs(),
);

t.test('no secret survives, whichever form it takes', async (t) => {
  const shown = JSON.stringify(withoutSecrets(cfg));
  for (const secret of ['s3cret', Buffer.from('bob:hunter2').toString('base64'), 'refresh-123']) t.notOk(shown.includes(secret), `${secret} is not shown`);
  const r = withoutSecrets(cfg).registries;
  t.same(r['registry.example'].auth, { username: 'alice', password: REDACTED }, 'the username stays: which account, not its secret');
  t.same(r['mirror.example'].auth, { auth: REDACTED });
  t.same(r['quay.example'].auth, { identity_token: REDACTED });
});

t.test('everything else is as loaded, and the loaded config keeps its secrets', async (t) => {
  const shown = withoutSecrets(cfg);
  t.same(shown.registries['plain.example'], cfg.registries['plain.example']);
  t.same(shown.registries['registry.example'].mirrors, ['mirror.example']);
  t.same(shown.runtime, cfg.runtime);
  t.equal(cfg.registries['registry.example'].auth?.password, 's3cret', 'the image service still gets the real credentials');
});
