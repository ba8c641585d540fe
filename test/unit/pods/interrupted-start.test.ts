// A StartContainer whose answer was lost: the daemon was SIGKILLed after the
// runtime started the container and before the record said so (found by the
// fault-injection harness, test/fault). The runtime's children outlive the
// daemon, so after the restart the container runs while its record says
// created; kubelet's retry got "cannot start an already running container"
// and the container was recorded as a failed start while it ran. Only a
// failed start asks whether the container runs: a status alone must not
// promote it (the fault harness found a VM container, created but never
// started, that a reattached controller reported running).

import t from 'tap';
import { silentLogger } from '../../../src/log';
import type { CallContext } from '../../../src/cri/handler';
import type { ContainerProcessState } from '../../../src/sandbox/controller';
import { podFixture } from './fixture';

const ctx: CallContext = { log: silentLogger, signal: new AbortController().signal };
const POD = 'a'.repeat(64);
const CTR = 'b'.repeat(64);

const state = (s: ContainerProcessState['state']): ContainerProcessState => ({ state: s, exitCode: 0, finishedAt: '0', oomKilled: false });

t.test('a status alone does not make a created container running (a reattached VM controller cannot tell started from created)', async (t) => {
  const { h, addPod, addContainer, containers } = podFixture(t, { controller: { containerState: async () => state('running') } });
  addPod(POD);
  addContainer(CTR, POD, 'CONTAINER_CREATED');
  const st = (await h.ContainerStatus({ container_id: CTR }, ctx)) as { status: { state: string } };
  t.equal(st.status.state, 'CONTAINER_CREATED', 'status still says created');
  t.equal(containers.get(CTR)?.state, 'CONTAINER_CREATED', 'and so does the record: a start will still be tried');
});

t.test('StartContainer retried after an interrupted start succeeds, and the container is running', async (t) => {
  const { h, addPod, addContainer, containers } = podFixture(t, {
    controller: {
      containerState: async () => state('running'),
      startContainer: async () => {
        throw new Error('runc start exited 1: cannot start an already running container');
      },
    },
  });
  addPod(POD);
  addContainer(CTR, POD, 'CONTAINER_CREATED');
  t.same(await h.StartContainer({ container_id: CTR }, ctx), {}, 'the retry succeeds');
  t.equal(containers.get(CTR)?.state, 'CONTAINER_RUNNING', 'recorded running, not a failed start');
});

t.test('a start that fails while the container is not running is still a failed start', async (t) => {
  const { h, addPod, addContainer, containers } = podFixture(t, {
    controller: {
      containerState: async () => state('created'),
      startContainer: async () => {
        throw new Error('exec format error');
      },
    },
  });
  addPod(POD);
  addContainer(CTR, POD, 'CONTAINER_CREATED');
  await t.rejects(h.StartContainer({ container_id: CTR }, ctx), /exec format error/, 'the error reaches the caller');
  t.match(containers.get(CTR), { state: 'CONTAINER_EXITED', reason: 'StartError' }, 'recorded as a failed start');
});
