// Validation of every response the guest sends. The guest is hostile: its
// answers are checked against the message schema (bounded strings, bytes and
// arrays; safe, non-negative integers where the field is unsigned) before any
// field reaches the rest of the daemon. Violations raise AgentResponseError,
// which fails that call (and is logged against the pod), never the daemon.

import * as protobuf from 'protobufjs';
import { InternalError } from '../../common/errors';
import { messageType } from '../../common/agent-protocol/codec';
import {
  AGENT_LOG_LEVELS,
  AGENT_LOG_LINE_CHARS,
  AGENT_LOG_READ_LINES,
  AGENT_LOG_READ_MAX_BYTES,
  ID_PATTERN,
  MAX_GUEST_ARRAY,
  MAX_GUEST_STRING,
  MAX_STREAM_CHUNK,
} from '../../common/agent-protocol/limits';

/** The guest agent sent a response that breaks the protocol's limits. */
export class AgentResponseError extends InternalError {
  constructor(
    readonly method: string,
    readonly field: string,
    problem: string,
  ) {
    super(`guest agent answered ${method} with an invalid ${field}: ${problem}`);
  }
}

const UINT32 = new Set(['uint32', 'fixed32']);
const UINT64 = new Set(['uint64', 'fixed64']);
const INT32 = new Set(['int32', 'sint32', 'sfixed32']);

export function validateResponse(method: string, fullName: string, value: unknown): void {
  check(method, messageType(fullName), value, fullName.split('.').pop() ?? fullName, 0);
  const extra = SEMANTIC[method];
  if (extra) extra(method, value as Record<string, unknown>);
}

function check(method: string, t: protobuf.Type, v: unknown, at: string, depth: number): void {
  const fail = (field: string, problem: string): never => {
    throw new AgentResponseError(method, field, problem);
  };
  if (depth > 8) fail(at, 'nested too deeply');
  if (v === null || typeof v !== 'object') fail(at, 'not a message');
  const obj = v as Record<string, unknown>;
  for (const f of t.fieldsArray) {
    f.resolve();
    const name = `${at}.${f.name}`;
    const fv = obj[f.name];
    if (f.map) {
      const entries = Object.entries((fv ?? {}) as Record<string, unknown>);
      if (entries.length > MAX_GUEST_ARRAY) fail(name, `more than ${MAX_GUEST_ARRAY} entries`);
      for (const [k, x] of entries) {
        scalar(f.type, x, `${name}[${k.slice(0, 32)}]`, fail);
        if (k.length > MAX_GUEST_STRING) fail(name, 'key too long');
      }
      continue;
    }
    const items = f.repeated ? (fv as unknown[]) : [fv];
    if (!Array.isArray(items)) fail(name, 'not a list');
    if (items.length > MAX_GUEST_ARRAY) fail(name, `more than ${MAX_GUEST_ARRAY} entries`);
    for (const item of items) {
      if (f.resolvedType instanceof protobuf.Type) {
        if (item !== null && item !== undefined) check(method, f.resolvedType, item, name, depth + 1);
      } else if (f.resolvedType instanceof protobuf.Enum) {
        if (typeof item !== 'number' || !Object.values(f.resolvedType.values).includes(item)) fail(name, `unknown enum value ${String(item)}`);
      } else {
        scalar(f.type, item, name, fail);
      }
    }
  }
}

function scalar(type: string, v: unknown, name: string, fail: (f: string, p: string) => never): void {
  if (type === 'string') {
    if (typeof v !== 'string') fail(name, 'not a string');
    if (v.length > MAX_GUEST_STRING) fail(name, `longer than ${MAX_GUEST_STRING} characters`);
  } else if (type === 'bytes') {
    if (!(v instanceof Uint8Array)) fail(name, 'not bytes');
    if (v.length > MAX_STREAM_CHUNK) fail(name, `more than ${MAX_STREAM_CHUNK} bytes`);
  } else if (type === 'bool') {
    if (typeof v !== 'boolean') fail(name, 'not a bool');
  } else {
    if (typeof v !== 'number' || !Number.isFinite(v)) fail(name, 'not a number');
    if (UINT32.has(type) && (!Number.isInteger(v) || v < 0 || v > 0xffffffff)) fail(name, `${v} is out of uint32 range`);
    // Nanosecond timestamps exceed 2^53: 64-bit values may lose precision, never sign or magnitude.
    if (UINT64.has(type) && (!Number.isInteger(v) || v < 0 || v >= 2 ** 64)) fail(name, `${v} is out of uint64 range`);
    if (INT32.has(type) && (!Number.isInteger(v) || v < -(2 ** 31) || v >= 2 ** 31)) fail(name, `${v} is out of int32 range`);
  }
}

// Field meanings the schema cannot express.
const SEMANTIC: Record<string, (method: string, v: Record<string, unknown>) => void> = {
  WaitProcess: (m, v) => {
    const code = v.exit_code as number;
    if (v.exited && (code < 0 || code > 255)) throw new AgentResponseError(m, 'exit_code', `${code} is not an exit status (0..255)`);
  },
  StartContainer: (m, v) => {
    if ((v.pid as number) > 4194304) throw new AgentResponseError(m, 'pid', 'above the kernel pid limit');
  },
  GetOOMEvent: (m, v) => {
    const id = v.container_id as string;
    if (id !== '' && !ID_PATTERN.test(id)) throw new AgentResponseError(m, 'container_id', 'not a container id');
  },
  ExecProcess: (m, v) => {
    if ((v.pid as number) > 4194304) throw new AgentResponseError(m, 'pid', 'above the kernel pid limit');
  },
  DebugExec: (m, v) => {
    if ((v.pid as number) > 4194304) throw new AgentResponseError(m, 'pid', 'above the kernel pid limit');
  },
  ReadAgentLog: (m, v) => validateAgentLog(m, v as unknown as AgentLogAnswer),
};

interface AgentLogAnswer {
  lines: Array<{ seq: number; time_unix_nano: number; level: string; msg: string }>;
  next_seq: number;
  dropped: number;
}

/**
 * ReadAgentLog: at most AGENT_LOG_READ_LINES lines, each of a known level and
 * at most AGENT_LOG_LINE_CHARS long, strictly ascending seq, all >= since_seq
 * (when the request is known), next_seq past the last line, and no more msg
 * text than budgetBytes (the largest budget the agent may use when unknown).
 */
export function validateAgentLog(m: string, v: AgentLogAnswer, sinceSeq = 0, budgetBytes = AGENT_LOG_READ_MAX_BYTES): void {
  const fail = (field: string, problem: string): never => {
    throw new AgentResponseError(m, field, problem);
  };
  if (v.lines.length > AGENT_LOG_READ_LINES) fail('lines', `more than ${AGENT_LOG_READ_LINES} lines`);
  let prev = -1;
  let bytes = 0;
  for (const l of v.lines) {
    if (!AGENT_LOG_LEVELS.includes(l.level)) fail('lines.level', `unknown level ${JSON.stringify(l.level.slice(0, 32))}`);
    if (l.msg.length > AGENT_LOG_LINE_CHARS) fail('lines.msg', `longer than ${AGENT_LOG_LINE_CHARS} characters`);
    if (l.seq <= prev) fail('lines.seq', `${l.seq} does not ascend`);
    if (l.seq < sinceSeq) fail('lines.seq', `${l.seq} is before the requested ${sinceSeq}`);
    prev = l.seq;
    bytes += Buffer.byteLength(l.msg);
  }
  if (bytes > budgetBytes) fail('lines', `${bytes} bytes of text exceed the ${budgetBytes}-byte budget`);
  if (v.lines.length && v.next_seq <= prev) fail('next_seq', `${v.next_seq} is not past the last line ${prev}`);
}
