// Which credentials go to which endpoint of a pull: a mirror gets its own
// configured credentials and never the pull's; the registry gets the pull's
// (the CRI AuthConfig) when there are any, else its own configured ones.

import t from 'tap';
import type { RegistryConfig } from '../../../src/config/types';
import type { Credentials } from '../../../src/image/auth';
import { credentialsFor, endpointsFor } from '../../../src/image/registry';

const registries: Record<string, RegistryConfig> = {
  'registry.example': { insecure: false, mirrors: ['https://mirror-a.example:5000/', 'mirror-b.example'], auth: { username: 'reg-user', password: 'reg-pass' } },
  'mirror-a.example:5000': { insecure: true, mirrors: [], auth: { auth: Buffer.from('mirror-user:mirror-pass').toString('base64') } },
  // mirror-b.example has no table: anonymous
  'docker.io': { insecure: false, mirrors: [], auth: { identity_token: 'refresh-xyz' } },
  'registry-1.docker.io': { insecure: false, mirrors: [], auth: { username: 'api-host-user', password: 'p' } },
  'quay.example': { insecure: false, mirrors: [] },
};

const pullSecret: Credentials = { kind: 'basic', username: 'kubelet-secret', password: 'from-the-pod' };
const anonymous: Credentials = { kind: 'anonymous' };

function choose(domain: string, given: Credentials): [string, Credentials][] {
  return endpointsFor(domain, registries).map((ep) => [ep.host, credentialsFor(ep, given)]);
}

const cases: { desc: string; domain: string; given: Credentials; want: [string, Credentials][] }[] = [
  {
    desc: "with a pull secret: each mirror its own (or none), the registry the pull's",
    domain: 'registry.example',
    given: pullSecret,
    want: [
      ['mirror-a.example:5000', { kind: 'basic', username: 'mirror-user', password: 'mirror-pass' }],
      ['mirror-b.example', anonymous],
      ['registry.example', pullSecret],
    ],
  },
  {
    desc: "without a pull secret: the registry's configured credentials",
    domain: 'registry.example',
    given: anonymous,
    want: [
      ['mirror-a.example:5000', { kind: 'basic', username: 'mirror-user', password: 'mirror-pass' }],
      ['mirror-b.example', anonymous],
      ['registry.example', { kind: 'basic', username: 'reg-user', password: 'reg-pass' }],
    ],
  },
  {
    desc: "the image's domain table wins over its API host's (docker.io → registry-1.docker.io)",
    domain: 'docker.io',
    given: anonymous,
    want: [['registry-1.docker.io', { kind: 'refresh', username: '', refreshToken: 'refresh-xyz' }]],
  },
  {
    desc: 'a registry without configured credentials and without a pull secret: anonymous',
    domain: 'quay.example',
    given: anonymous,
    want: [['quay.example', anonymous]],
  },
  {
    desc: 'a host with no table at all: the pull secret',
    domain: 'ghcr.example',
    given: pullSecret,
    want: [['ghcr.example', pullSecret]],
  },
];

for (const c of cases) {
  t.test(c.desc, async (t) => {
    t.same(choose(c.domain, c.given), c.want);
  });
}

t.test("no mirror ever gets the pull's credentials, whatever form they take", async (t) => {
  const forms: Credentials[] = [pullSecret, { kind: 'bearer', token: 'registry-token' }, { kind: 'refresh', username: 'u', refreshToken: 'r' }];
  for (const given of forms) {
    for (const ep of endpointsFor('registry.example', registries).filter((e) => e.isMirror)) {
      t.notSame(credentialsFor(ep, given), given, `${given.kind} not sent to ${ep.host}`);
    }
  }
});
