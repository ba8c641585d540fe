// Which processes a (container_id, exec_id) names: a container's, or, for
// container_id "", the guest's own debug processes (debug-processes.ts). The
// stdio, signal and wait calls are the same for both, so the host drives a
// debug process with the machinery it has for an exec.

import { FailedPreconditionError } from '../../../common/errors';
import type { WindowSize } from '../../../common/native/pty';
import type { WaitResult } from '../container-manager';
import type { AgentDeps } from '../deps';
import type { ReadResult } from '../output-buffer';

/** container_id of the guest itself. */
export const GUEST_CONTAINER_ID = '';

export interface ProcessTable {
  signal(id: string, execId: string, signal: number): Promise<void>;
  wait(id: string, execId: string, waitMs: number, signal?: AbortSignal): Promise<WaitResult>;
  writeStdin(id: string, execId: string, data: Uint8Array): Promise<number>;
  closeStdin(id: string, execId: string): void;
  resizeTerminal(id: string, execId: string, size: WindowSize): void;
  read(id: string, execId: string, stream: 'stdout' | 'stderr', maxBytes: number, waitMs: number, signal?: AbortSignal): Promise<ReadResult>;
}

export function processTable(d: AgentDeps, containerId: string): ProcessTable {
  if (containerId !== GUEST_CONTAINER_ID) return d.containers;
  if (!d.debug) throw new FailedPreconditionError('this agent runs no debug processes');
  return d.debug;
}
