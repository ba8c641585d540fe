// Protocol limits stated in proto/agent/agent.proto, in one place for both sides.

/** Largest ttRPC frame (and so message). */
export const MAX_MESSAGE_BYTES = 4 << 20;
/** Largest data chunk in ReadStdout/ReadStderr, WriteStdin, CopyFile, PortForward. */
export const MAX_STREAM_CHUNK = 1 << 20;
/** Unread output the agent keeps per process stream; from half of it on the process's output is held back until the host reads. */
export const OUTPUT_BUFFER_BYTES = 1 << 20;
/** Bumped on incompatible changes to agent.proto. */
export const PROTOCOL_VERSION = 1;
/** Container and exec ids: what the host generates, and nothing a path could abuse. */
export const ID_PATTERN = /^[A-Za-z0-9_.-]{1,128}$/;
/** Strings the guest sends back (versions, messages) are cut at this length by the validator. */
export const MAX_GUEST_STRING = 1024;
/** Repeated fields from the guest. */
export const MAX_GUEST_ARRAY = 1024;
/** The agent's log ring keeps at most this many lines... */
export const AGENT_LOG_RING_LINES = 2000;
/** ...and at most this much msg text (UTF-8 bytes), whichever is reached first. */
export const AGENT_LOG_RING_BYTES = 256 << 10;
/** One log line's msg, in characters (the agent cuts longer ones; equals MAX_GUEST_STRING). */
export const AGENT_LOG_LINE_CHARS = 1024;
/** Lines in one ReadAgentLog answer. */
export const AGENT_LOG_READ_LINES = 1000;
/** ReadAgentLog max_bytes: default when 0, and the clamp range. */
export const AGENT_LOG_READ_DEFAULT_BYTES = 64 << 10;
export const AGENT_LOG_READ_MIN_BYTES = 4 << 10;
export const AGENT_LOG_READ_MAX_BYTES = 1 << 20;
/** The levels the agent logs at. */
export const AGENT_LOG_LEVELS: readonly string[] = ['info', 'warn', 'error'];

/** The msg budget a ReadAgentLog with this max_bytes gets. */
export function agentLogReadBudget(maxBytes: number): number {
  if (maxBytes === 0) return AGENT_LOG_READ_DEFAULT_BYTES;
  return Math.min(AGENT_LOG_READ_MAX_BYTES, Math.max(AGENT_LOG_READ_MIN_BYTES, maxBytes));
}
