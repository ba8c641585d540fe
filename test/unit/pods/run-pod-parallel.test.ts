// RunPodSandbox runs CNI ADD beside the controller's create (pod-lifecycle.ts,
// Steps.all): the controller gets the netns path at once and the addresses as
// a promise; whichever of the two fails, nothing is undone before both have
// settled, what was made is undone (the sandbox before its network), and the
// error names the step that failed first in the declared order.

import t from 'tap';
import { InternalError } from '../../../common/errors';
import { silentLogger } from '../../../src/log';
import type { CallContext } from '../../../src/cri/handler';
import type { SandboxCreateInput } from '../../../src/sandbox/controller';
import { podFixture } from './fixture';

const ctx: CallContext = { log: silentLogger, signal: new AbortController().signal };
const config = { metadata: { name: 'p', namespace: 'ns', uid: 'u', attempt: 0 }, labels: {}, annotations: {}, port_mappings: [], hostname: '' };

/** A promise and its resolvers, to order the two parallel steps by hand. */
function gate<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

const tick = () => new Promise((r) => setImmediate(r));

t.test('the sandbox is created while ADD runs, and gets the addresses once ADD is done', async (t) => {
  const events: string[] = [];
  const add = gate<{ ips: { ip: string; additionalIps: string[] } }>();
  let seen: SandboxCreateInput | undefined;
  const fx = podFixture(t, {
    controller: {
      createSandbox: async (input) => {
        seen = input;
        events.push('create started');
        const ips = await input.ips;
        events.push(`create has ${ips.join(',')}`);
        return { made: true };
      },
    },
    network: {
      prepare: async () => ({
        netnsPath: '/pins/p',
        attach: () => {
          events.push('add started');
          return add.promise;
        },
      }),
    },
  });
  const running = fx.h.RunPodSandbox({ config, runtime_handler: '' }, ctx);
  await tick();
  t.same(events, ['add started', 'create started'], 'both run before ADD has finished');
  t.equal(seen?.netnsPath, '/pins/p', 'the controller has the netns path at once');
  add.resolve({ ips: { ip: '10.0.0.7', additionalIps: ['fd00::7'] } });
  const { pod_sandbox_id: id } = (await running) as { pod_sandbox_id: string };
  t.same(events.slice(2), ['create has 10.0.0.7,fd00::7'], 'the addresses, in order, when ADD is done');
  const r = fx.sandboxes.get(id);
  t.same([r?.state, r?.ip, r?.additionalIps, r?.netnsPath], ['SANDBOX_READY', '10.0.0.7', ['fd00::7'], '/pins/p'], 'the record has the CNI result');
});

t.test('a controller that fails while ADD runs: the network is torn down only after ADD settled', async (t) => {
  const events: string[] = [];
  const add = gate<{ ips: { ip: string; additionalIps: string[] } }>();
  const fx = podFixture(t, {
    controller: {
      createSandbox: async () => {
        events.push('create failed');
        throw new InternalError('conmon: runc create failed');
      },
      stopSandbox: async () => void events.push('stop'),
      removeSandbox: async () => void events.push('remove'),
    },
    network: {
      prepare: async () => ({ netnsPath: '/pins/p', attach: () => add.promise }),
      teardown: async () => void events.push('network teardown'),
    },
  });
  const running = fx.h.RunPodSandbox({ config, runtime_handler: '' }, ctx);
  await tick();
  await tick();
  t.same(events, ['create failed'], 'no teardown while ADD still runs');
  events.push('add done');
  add.resolve({ ips: { ip: '10.0.0.7', additionalIps: [] } });
  await t.rejects(running, { constructor: InternalError, message: /step "sandbox-create" failed: conmon: runc create failed/ });
  t.same(events, ['create failed', 'add done', 'network teardown'], 'then the network (its ADD done) is torn down; the sandbox that failed is not stopped');
  t.same(fx.sandboxes.list(), [], 'no record is left');
});

t.test('an ADD that fails: the error names network-setup, the sandbox made meanwhile is undone before the network', async (t) => {
  const events: string[] = [];
  const fx = podFixture(t, {
    controller: {
      // A controller that never looks at the addresses (a fake): it completes, and must still be undone.
      createSandbox: async () => ({ made: true }),
      stopSandbox: async () => void events.push('stop'),
      removeSandbox: async () => void events.push('remove'),
    },
    network: {
      prepare: async () => ({
        netnsPath: '/pins/p',
        attach: async () => {
          throw new InternalError('CNI plugin "bridge" ADD for pod x failed: no space in range');
        },
      }),
      teardown: async () => void events.push('network teardown'),
    },
  });
  await t.rejects(fx.h.RunPodSandbox({ config, runtime_handler: '' }, ctx), {
    constructor: InternalError,
    message: /step "network-setup" failed: CNI plugin "bridge" ADD for pod x failed: no space in range/,
  });
  t.same(events, ['stop', 'remove', 'network teardown'], 'the sandbox is stopped and removed, then the network torn down');
  t.same(fx.sandboxes.list(), [], 'no record is left');
});

t.test("an ADD that fails while the controller awaits the addresses: both fail, the error is the network's", async (t) => {
  const events: string[] = [];
  const fx = podFixture(t, {
    controller: {
      createSandbox: async (input) => {
        try {
          await input.ips;
        } catch (err) {
          events.push('create undid its own steps');
          throw err;
        }
        return {};
      },
      stopSandbox: async () => void events.push('stop'),
    },
    network: {
      prepare: async () => ({
        netnsPath: '/pins/p',
        attach: async () => {
          throw new InternalError('CNI plugin "portmap" ADD for pod x failed: port 0');
        },
      }),
      teardown: async () => void events.push('network teardown'),
    },
  });
  await t.rejects(fx.h.RunPodSandbox({ config, runtime_handler: '' }, ctx), { message: /step "network-setup" failed: CNI plugin "portmap"/ });
  t.same(events, ['create undid its own steps', 'network teardown'], 'a controller that failed is not stopped by the domain; the netns is unpinned');
});
