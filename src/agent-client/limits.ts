// Protocol limits stated in proto/agent/agent.proto, in one place for both sides.

/** Largest ttRPC frame (and so message). */
export const MAX_MESSAGE_BYTES = 4 << 20;
/** Largest data chunk in ReadStdout/ReadStderr, WriteStdin, CopyFile, PortForward. */
export const MAX_STREAM_CHUNK = 1 << 20;
/** Unread output the agent keeps per process stream before dropping (and counting) bytes. */
export const OUTPUT_BUFFER_BYTES = 1 << 20;
/** Bumped on incompatible changes to agent.proto. */
export const PROTOCOL_VERSION = 1;
/** Container and exec ids: what the host generates, and nothing a path could abuse. */
export const ID_PATTERN = /^[A-Za-z0-9_.-]{1,128}$/;
/** Strings the guest sends back (versions, messages) are cut at this length by the validator. */
export const MAX_GUEST_STRING = 1024;
/** Repeated fields from the guest. */
export const MAX_GUEST_ARRAY = 1024;
