// ExecSync in a VM pod: the agent runs the process next to the container;
// its output is collected through the same long polls as container output,
// capped as kubelet caps it and cut to fit one gRPC message, as the runc
// path does (../exec-output.ts), and a process past its timeout is killed
// and reaped in the guest before DEADLINE_EXCEEDED returns (as the runc
// path does), so that nothing of it is left running.

import { randomBytes } from 'node:crypto';
import { DeadlineExceededError, FailedPreconditionError } from '../../../common/errors';
import type { OciProcess } from '../../oci/types';
import type { ExecResult } from '../controller';
import { ExecStreamCollector, fitExecOutput } from '../exec-output';
import { pumpOutput } from './output-pump';
import type { PodVm } from './pod-vm';
import { sleep } from '../../../common/time';

/** How long a timed-out exec's SIGKILL gets to end it in the guest before ExecSync returns anyway. */
export const KILL_WAIT_MS = 10_000;

export async function execInGuest(pod: PodVm, containerId: string, proc: OciProcess, timeoutS: number): Promise<ExecResult> {
  const execId = `exec-${randomBytes(8).toString('hex')}`;
  await pod.agent.call('ExecProcess', { container_id: containerId, exec_id: execId, process_json: Buffer.from(JSON.stringify(proc)), stdin: false });
  const out = { stdout: new ExecStreamCollector(), stderr: new ExecStreamCollector() };
  let done = false;
  const collect = (stream: 'stdout' | 'stderr') =>
    pumpOutput({
      agent: pod.agent,
      containerId,
      execId,
      stream,
      waitMs: 1000,
      stopped: () => done || !pod.alive || pod.detached,
      // kubelet's cap: keep the first EXEC_OUTPUT_CAP bytes, drop the rest.
      sink: (b) => out[stream].push(b),
      // What the agent could not hold is missing from the output too: the marker counts it.
      onDropped: (bytes) => (out[stream].dropped += bytes),
    });
  const readers = Promise.all([collect('stdout'), collect('stderr')]);
  const waitDone = (async () => {
    // Ends with the exec call: a timed-out exec the guest never reports must not leave this loop behind.
    while (!done) {
      if (!pod.alive) throw new FailedPreconditionError(`pod ${pod.id}: the pod VM ended during exec`);
      const r = await pod.agent.waitProcess({ container_id: containerId, exec_id: execId, wait_ms: 5000 });
      if (r.exited) return r.exit_code;
    }
    return -1;
  })();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((res) => {
    if (timeoutS > 0) timer = setTimeout(() => res('timeout'), timeoutS * 1000);
  });
  try {
    const exitCode = await Promise.race([waitDone, timeout]);
    if (exitCode === 'timeout') {
      // Killed and reaped in the guest before the error returns: the agent sends SIGKILL to the
      // process itself (not only to `runc exec`), and the exit is reported once runc has reaped it.
      await pod.agent.call('SignalProcess', { container_id: containerId, exec_id: execId, signal: 9 }).catch(() => undefined);
      let killTimer: NodeJS.Timeout | undefined;
      const ended = await Promise.race([
        waitDone.then(
          () => true,
          () => false,
        ),
        new Promise<boolean>((r) => (killTimer = setTimeout(() => r(false), KILL_WAIT_MS))),
      ]);
      clearTimeout(killTimer);
      throw new DeadlineExceededError(
        `exec in container ${containerId} did not finish within ${timeoutS} s; ${ended ? 'killed' : `killed, but the guest did not report its end within ${KILL_WAIT_MS / 1000} s`}`,
      );
    }
    await Promise.race([readers, sleep(5000)]);
    return { ...fitExecOutput(out.stdout.collected(), out.stderr.collected()), exitCode };
  } finally {
    clearTimeout(timer);
    done = true;
  }
}
