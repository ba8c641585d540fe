// One line describing why a CRI call failed, for "not available: <why>".

import { status as GrpcStatus } from '@grpc/grpc-js';

/** `UNIMPLEMENTED: RuntimeService/RunPodSandbox is not implemented by vmpod yet`; the first line of the message for other errors. */
export function describeError(err: unknown): string {
  const e = (typeof err === 'object' && err !== null ? err : {}) as { code?: unknown; details?: unknown; message?: unknown };
  const text = typeof e.details === 'string' && e.details ? e.details : typeof e.message === 'string' ? e.message : String(err);
  if (typeof e.code === 'number' && GrpcStatus[e.code] !== undefined) return `${GrpcStatus[e.code]}: ${text.split('\n')[0]}`;
  return text.split('\n')[0];
}
