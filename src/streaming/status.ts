// The Kubernetes metav1.Status a remote-command session ends with, as
// kubelet's remotecommand server writes it on the error stream: v4 and later
// send the JSON (kubectl reads the exit code from the ExitCode cause); v1-v3
// send only a failure's message as text. Field names and values are
// apimachinery's (StatusCause.Type is serialized as "reason").

export interface StatusCause {
  reason?: string;
  message?: string;
}

export interface K8sStatus {
  metadata: Record<string, never>;
  status: 'Success' | 'Failure';
  message?: string;
  reason?: string;
  details?: { causes: StatusCause[] };
  code?: number;
}

export function successStatus(): K8sStatus {
  return { metadata: {}, status: 'Success' };
}

/** remotecommand.NonZeroExitCodeReason with the remotecommand.ExitCodeCauseType cause. */
export function exitCodeStatus(exitCode: number, cmd: readonly string[]): K8sStatus {
  return {
    metadata: {},
    status: 'Failure',
    message: `command terminated with non-zero exit code: error executing command ${JSON.stringify(cmd)}, exit code ${exitCode}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(exitCode) }] },
  };
}

/** apierrors.NewInternalError. */
export function internalErrorStatus(problem: string): K8sStatus {
  return {
    metadata: {},
    status: 'Failure',
    message: `Internal error occurred: ${problem}`,
    reason: 'InternalError',
    details: { causes: [{ message: problem }] },
    code: 500,
  };
}

/** What goes on the error stream for this protocol generation; null: nothing (v1-v3 say nothing on success). */
export function encodeStatus(s: K8sStatus, json: boolean): Buffer | null {
  if (json) return Buffer.from(JSON.stringify(s));
  return s.status === 'Success' ? null : Buffer.from(s.message ?? 'failure');
}
