// `vmpod debug <pod>` on a VM pod: a process in the guest itself, outside
// every container, started by the agent (DebugExec) and then driven exactly
// like a streaming exec (exec-stream.ts), with container_id "" naming the
// guest. The guest accepts it only if the pod was started with
// `[debug] guest_shell` on (CreateSandbox's debug_processes); the admin
// socket checks the setting in force now before it gets here.

import { randomBytes } from 'node:crypto';
import { FailedPreconditionError, GrpcStatus } from '../../../common/errors';
import { RemoteStatusError } from '../../../common/ttrpc';
import type { DebugProcessOptions, ProcessIO } from '../controller';
import { streamGuestProcess, type GuestPod } from './exec-stream';

/** The agent's container_id for the guest itself (proto/agent/agent.proto). */
export const GUEST_CONTAINER_ID = '';

export async function openDebugProcess(pod: GuestPod, argv: string[], opts: DebugProcessOptions): Promise<ProcessIO> {
  const execId = `debug-${randomBytes(8).toString('hex')}`;
  try {
    await pod.agent.call('DebugExec', {
      exec_id: execId,
      args: argv,
      env: opts.env,
      terminal: opts.tty,
      rows: opts.size?.height ?? 0,
      cols: opts.size?.width ?? 0,
      stdin: true,
    });
  } catch (err) {
    if (err instanceof RemoteStatusError && err.grpcStatus === GrpcStatus.UNIMPLEMENTED) {
      throw new FailedPreconditionError(`pod ${pod.id}: its guest agent has no debug processes (the pod booted a guest image older than vmpod debug); recreate the pod`);
    }
    // The agent's refusal (debug off when the pod started, a bad argument) is the operator's answer; its text is the guest's, so bounded.
    if (err instanceof RemoteStatusError && err.grpcStatus === GrpcStatus.FAILED_PRECONDITION) {
      throw new FailedPreconditionError(`pod ${pod.id}: ${err.remoteMessage.slice(0, 512)}`);
    }
    throw err;
  }
  return streamGuestProcess(pod, GUEST_CONTAINER_ID, execId, { stdin: true, stdout: true, stderr: !opts.tty, tty: opts.tty }, `debug process ${execId} in pod ${pod.id}'s guest`);
}
