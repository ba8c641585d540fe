// A controller's exit or death event whose record write fails (a full disk)
// must not end the daemon: the event arrives in a watcher's callback, where a
// throw is uncaught. Found by test/fault/disk-full (the daemon died during
// create, stopp and rmp with under 3 KiB free). The record stays as it was;
// the next status call asks the controller again.

import t from 'tap';
import { ResourceExhaustedError } from '../../../common/errors';
import { silentLogger } from '../../../src/log';
import type { CallContext } from '../../../src/cri/handler';
import type { ContainerProcessState, ControllerEvent } from '../../../src/sandbox/controller';
import { podFixture } from './fixture';

const ctx: CallContext = { log: silentLogger, signal: new AbortController().signal };
const POD = 'c'.repeat(64);
const CTR = 'd'.repeat(64);
const exited: ContainerProcessState = { state: 'exited', exitCode: 3, finishedAt: '1', oomKilled: false };

t.test('an event whose record write fails is logged, not thrown; a later status records it', async (t) => {
  let emit: ((e: ControllerEvent) => void) | undefined;
  const fx = podFixture(t, {
    controller: {
      onEvent: (cb: (e: ControllerEvent) => void) => void (emit = cb),
      containerState: async () => exited,
      sandboxReady: async () => false,
    },
  });
  fx.addPod(POD);
  fx.addContainer(CTR, POD, 'CONTAINER_RUNNING');
  t.ok(emit, 'the pod service listens to the controller');
  const full = (): never => {
    throw new ResourceExhaustedError('cannot write the record: no space left');
  };
  const [cu, su] = [fx.containers.update.bind(fx.containers), fx.sandboxes.update.bind(fx.sandboxes)];
  fx.containers.update = full;
  fx.sandboxes.update = full;
  t.doesNotThrow(() => emit!({ kind: 'container-exited', containerId: CTR, state: exited }), 'an exit event with a failing write');
  t.doesNotThrow(() => emit!({ kind: 'sandbox-died', podSandboxId: POD, reason: 'gone' }), 'a pod death with a failing write');
  t.equal(fx.containers.get(CTR)?.state, 'CONTAINER_RUNNING', 'the record is as it was');
  fx.containers.update = cu;
  fx.sandboxes.update = su;
  const st = (await fx.h.ContainerStatus({ container_id: CTR }, ctx)) as { status: { state: string; exit_code: number } };
  t.match(st.status, { state: 'CONTAINER_EXITED', exit_code: 3 }, 'with space back, the next status records the exit');
  const ps = (await fx.h.PodSandboxStatus({ pod_sandbox_id: POD }, ctx)) as { status: { state: string } };
  t.equal(ps.status.state, 'SANDBOX_NOTREADY', 'and the next pod status the death');
});
