// CreateSandbox's entropy: the host's random bytes reseed the guest kernel's
// RNG before anything else (a VM restored from a template would otherwise
// draw what every VM of it draws); without the reseed call they are still
// mixed in through /dev/urandom; too many are refused.

import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GrpcStatus } from '../../../common/errors';
import { RemoteStatusError } from '../../../common/ttrpc';
import { startClient } from './harness';

const entropy = Buffer.from('0123456789abcdef'.repeat(4));

t.test('the entropy reseeds the RNG, first of all', async (t) => {
  const { h, client } = startClient(t);
  const order: string[] = [];
  h.deps.sys.reseedRandom = (e) => void order.push(`reseed ${Buffer.from(e).toString()}`);
  const run = h.deps.sys.run.bind(h.deps.sys);
  h.deps.sys.run = (cmd, args, opts) => {
    order.push(cmd);
    return run(cmd, args, opts);
  };
  await client.call('CreateSandbox', { sandbox_id: 'sb1', hostname: 'pod-a', entropy });
  t.equal(order[0], `reseed ${entropy.toString()}`, 'the reseed comes before every other step');
  t.equal(order.filter((o) => o.startsWith('reseed')).length, 1, 'once');
  t.notOk(existsSync(join(h.root, 'urandom')), 'nothing written to /dev/urandom when the reseed worked');
});

t.test('without the reseed call the bytes are mixed in through /dev/urandom', async (t) => {
  const { h, client } = startClient(t);
  h.deps.sys.reseedRandom = () => {
    throw new Error('EPERM');
  };
  await client.call('CreateSandbox', { sandbox_id: 'sb1', hostname: 'pod-a', entropy });
  t.same(readFileSync(join(h.root, 'urandom')), entropy);
});

t.test('no entropy: the RNG is left alone', async (t) => {
  const { h, client } = startClient(t);
  let calls = 0;
  h.deps.sys.reseedRandom = () => void calls++;
  await client.call('CreateSandbox', { sandbox_id: 'sb1', hostname: 'pod-a' });
  t.equal(calls, 0);
});

t.test('more than 512 bytes is refused, naming the field', async (t) => {
  const { h, client } = startClient(t);
  let calls = 0;
  h.deps.sys.reseedRandom = () => void calls++;
  const err = await client.call('CreateSandbox', { sandbox_id: 'sb1', hostname: 'pod-a', entropy: Buffer.alloc(513) }).catch((e: unknown) => e);
  t.ok(err instanceof RemoteStatusError);
  t.equal((err as RemoteStatusError).grpcStatus, GrpcStatus.INVALID_ARGUMENT);
  t.match((err as Error).message, /entropy/);
  t.equal(calls, 0, 'nothing reseeded');
});
