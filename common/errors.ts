// The one catalogue of errors vmpod can return to a CRI caller. Every error
// class carries a stable `code` (documented in docs/errors.md) and the gRPC
// status it maps to; `toGrpcStatus` in src/cri/wrap.ts is the only place that
// turns them into a wire status. Nothing classifies errors by message text.

import { status as GrpcStatus } from '@grpc/grpc-js';

export { GrpcStatus };

export abstract class VmpodError extends Error {
  abstract readonly code: string;
  abstract readonly grpcStatus: GrpcStatus;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A request field is missing, malformed or out of range. */
export class InvalidArgumentError extends VmpodError {
  readonly code = 'INVALID_ARGUMENT';
  readonly grpcStatus = GrpcStatus.INVALID_ARGUMENT;
  constructor(
    readonly field: string,
    problem: string,
  ) {
    super(`${field}: ${problem}`);
  }
}

/** The named object does not exist. */
export class NotFoundError extends VmpodError {
  readonly code = 'NOT_FOUND';
  readonly grpcStatus = GrpcStatus.NOT_FOUND;
  constructor(
    readonly kind: string,
    readonly id: string,
    hint = '',
  ) {
    super(`${kind} "${id}" not found${hint ? `: ${hint}` : ''}`);
  }
}

/** An object with the same identity already exists. */
export class AlreadyExistsError extends VmpodError {
  readonly code = 'ALREADY_EXISTS';
  readonly grpcStatus = GrpcStatus.ALREADY_EXISTS;
  constructor(
    readonly kind: string,
    readonly id: string,
    detail = '',
  ) {
    super(`${kind} "${id}" already exists${detail ? `: ${detail}` : ''}`);
  }
}

/** The object is in a state that does not allow the operation. */
export class FailedPreconditionError extends VmpodError {
  readonly code = 'FAILED_PRECONDITION';
  readonly grpcStatus = GrpcStatus.FAILED_PRECONDITION;
}

/** The method exists in the CRI API but vmpod does not implement it (yet). */
export class UnimplementedError extends VmpodError {
  readonly code = 'UNIMPLEMENTED';
  readonly grpcStatus = GrpcStatus.UNIMPLEMENTED;
}

/** A call to a component (registry, runc, QEMU, guest agent, CNI plugin) did not answer in time. */
export class DeadlineExceededError extends VmpodError {
  readonly code = 'DEADLINE_EXCEEDED';
  readonly grpcStatus = GrpcStatus.DEADLINE_EXCEEDED;
}

/** The caller cancelled the call (or went away); what the call had started is stopped and cleaned up. */
export class CancelledError extends VmpodError {
  readonly code = 'CANCELLED';
  readonly grpcStatus = GrpcStatus.CANCELLED;
}

/** The caller lacks the credentials a registry asks for. */
export class UnauthenticatedError extends VmpodError {
  readonly code = 'UNAUTHENTICATED';
  readonly grpcStatus = GrpcStatus.UNAUTHENTICATED;
}

/** A limit (size, count) was exceeded. */
export class ResourceExhaustedError extends VmpodError {
  readonly code = 'RESOURCE_EXHAUSTED';
  readonly grpcStatus = GrpcStatus.RESOURCE_EXHAUSTED;
}

/** A component vmpod depends on is missing or not answering (daemon shutting down, registry down). */
export class UnavailableError extends VmpodError {
  readonly code = 'UNAVAILABLE';
  readonly grpcStatus = GrpcStatus.UNAVAILABLE;
}

/** Something vmpod runs failed; the message names the step and the component. */
export class InternalError extends VmpodError {
  readonly code = 'INTERNAL';
  readonly grpcStatus = GrpcStatus.INTERNAL;
}

/** Configuration problem found at start-up; never sent over gRPC. */
export class ConfigError extends Error {
  constructor(
    readonly key: string,
    problem: string,
  ) {
    super(`config: ${key}: ${problem}`);
    this.name = 'ConfigError';
  }
}

export function isVmpodError(err: unknown): err is VmpodError {
  return err instanceof VmpodError;
}
