import t from 'tap';
import { InvalidArgumentError } from '../../../common/errors';
import { credentialsFrom, parseChallenges } from '../../../src/image/auth';

t.test('WWW-Authenticate parsing', async (t) => {
  const cases: { desc: string; header: string; want: unknown }[] = [
    {
      desc: 'bearer with quoted params',
      header: 'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"',
      want: [{ scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/busybox:pull' } }],
    },
    { desc: 'basic', header: 'Basic realm="Registry Realm"', want: [{ scheme: 'basic', params: { realm: 'Registry Realm' } }] },
    {
      desc: 'two challenges, token params',
      header: 'Basic realm=x, Bearer realm="r", service=s',
      want: [
        { scheme: 'basic', params: { realm: 'x' } },
        { scheme: 'bearer', params: { realm: 'r', service: 's' } },
      ],
    },
    { desc: 'escaped quote and comma in value', header: 'Bearer realm="a\\"b,c"', want: [{ scheme: 'bearer', params: { realm: 'a"b,c' } }] },
  ];
  for (const c of cases) t.same(parseChallenges(c.header), c.want, c.desc);
  t.same(parseChallenges(undefined), [], 'no header');
});

t.test('AuthConfig forms', async (t) => {
  const cases: { desc: string; auth: Record<string, string> | null; want: unknown }[] = [
    { desc: 'none', auth: null, want: { kind: 'anonymous' } },
    { desc: 'empty', auth: {}, want: { kind: 'anonymous' } },
    { desc: 'username/password', auth: { username: 'u', password: 'p' }, want: { kind: 'basic', username: 'u', password: 'p' } },
    { desc: 'auth base64 with colon in password', auth: { auth: Buffer.from('u:p:q').toString('base64') }, want: { kind: 'basic', username: 'u', password: 'p:q' } },
    { desc: 'identity token', auth: { username: 'u', identity_token: 'r' }, want: { kind: 'refresh', username: 'u', refreshToken: 'r' } },
    { desc: 'registry token wins', auth: { username: 'u', password: 'p', registry_token: 't' }, want: { kind: 'bearer', token: 't' } },
  ];
  for (const c of cases) t.same(credentialsFrom(c.auth), c.want, c.desc);
  t.throws(() => credentialsFrom({ auth: Buffer.from('nocolon').toString('base64') }), { constructor: InvalidArgumentError, message: /auth.auth/ }, 'malformed auth');
  for (const token of ['a\nb', 'tok en', 'caf\u00e9', '\u0000'])
    t.throws(() => credentialsFrom({ registry_token: token }), { constructor: InvalidArgumentError, message: /auth.registry_token/ }, `registry token ${JSON.stringify(token)}`);
});
