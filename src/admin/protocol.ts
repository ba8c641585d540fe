// The admin socket's wire protocol (vmpod's operator debug CLI, issue 21):
// a client connects, writes one JSON request on one line, reads one JSON
// answer on one line, and the daemon closes the connection. A `debug`
// request answered ok is the exception: the connection then carries the
// guest process's bytes both ways as frames (frames.ts) until its exit. Every request is
// checked here, before anything reads a pod: a line too long, not JSON, a
// command nobody knows or a field of the wrong type is refused with a clear
// error. Pure: unit-tested without a daemon.

import { InvalidArgumentError } from '../../common/errors';
import type { AgentLogRead, DebugInfo } from '../sandbox/controller';
import type { OverheadReport } from '../pods/overhead';

export const ADMIN_PROTOCOL_VERSION = 1;
/** The longest request line the daemon reads; a client sending more is cut off. */
export const MAX_REQUEST_BYTES = 4096;
/** Console bytes `vmpod vm` shows by default, and the most `vmpod console` may ask for (the console log's cap is larger; the ring QEMU holds is 1 MiB). */
export const VM_CONSOLE_BYTES = 2048;
export const DEFAULT_CONSOLE_BYTES = 64 * 1024;
export const MAX_CONSOLE_BYTES = 1024 * 1024;
/** A pod id or prefix: hex as vmpod makes them, bounded. */
const POD_REF = /^[0-9a-f]{1,64}$/;

/** `vmpod debug`'s argv: at most this many entries (the whole request line is bounded by MAX_REQUEST_BYTES too). */
export const MAX_DEBUG_ARGV = 256;
/** What `vmpod debug POD` runs when no command is given. */
export const DEFAULT_DEBUG_ARGV: readonly string[] = ['/bin/sh'];
const TERM_NAME = /^[A-Za-z0-9._+-]{1,64}$/;

/** `vmpod overhead`: the time between its two readings of the pods' stats (CPU is a rate over it). */
export const DEFAULT_OVERHEAD_INTERVAL_MS = 2000;
/** Below the CLI's 30 s wait for an answer. */
export const MAX_OVERHEAD_INTERVAL_MS = 20_000;

export type AdminQuery =
  { cmd: 'pods' } | { cmd: 'vm'; pod: string } | { cmd: 'console'; pod: string; bytes: number } | { cmd: 'agent-log'; pod: string; sinceSeq: number } | { cmd: 'overhead'; intervalMs: number };

/** A process in the pod's isolation itself (a VM's guest), its bytes streamed on the connection; rows/cols 0 = the kernel's default; term "" = none. */
export interface DebugRequest {
  cmd: 'debug';
  pod: string;
  argv: string[];
  tty: boolean;
  rows: number;
  cols: number;
  term: string;
}

export type AdminRequest = AdminQuery | DebugRequest;

export const ADMIN_COMMANDS: readonly AdminRequest['cmd'][] = ['pods', 'vm', 'console', 'agent-log', 'debug', 'overhead'];

/** One row of `vmpod pods`. */
export interface PodRow {
  id: string;
  name: string;
  namespace: string;
  handler: string;
  state: string;
  /** Unix nanoseconds, decimal string. */
  createdAt: string;
}

export interface VmAnswer extends DebugInfo {
  id: string;
  name: string;
  namespace: string;
  handler: string;
  state: string;
}

export type AdminResult =
  { pods: PodRow[] } | { vm: VmAnswer } | { console: string; pod: string } | { agentLog: AgentLogRead; pod: string } | { debug: { pod: string } } | { overhead: OverheadReport };

export type AdminResponse = { ok: true; result: AdminResult } | { ok: false; error: { code: string; message: string } };

function podRef(o: Record<string, unknown>): string {
  const pod = o.pod;
  if (typeof pod !== 'string' || !POD_REF.test(pod)) throw new InvalidArgumentError('pod', 'must be a pod sandbox id or a unique prefix of one (1 to 64 lowercase hex digits)');
  return pod;
}

function count(o: Record<string, unknown>, field: string, dflt: number, min: number, max: number): number {
  const v = o[field];
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) throw new InvalidArgumentError(field, `must be an integer from ${min} to ${max}`);
  return v;
}

function debugArgv(o: Record<string, unknown>): string[] {
  const v = o.argv;
  if (v === undefined) return [...DEFAULT_DEBUG_ARGV];
  if (!Array.isArray(v) || v.length > MAX_DEBUG_ARGV || v.some((a) => typeof a !== 'string' || a.includes('\0'))) {
    throw new InvalidArgumentError('argv', `must be a list of at most ${MAX_DEBUG_ARGV} strings without NUL bytes`);
  }
  if (v.length === 0) return [...DEFAULT_DEBUG_ARGV];
  if (v[0] === '' || (v[0] as string).startsWith('-')) throw new InvalidArgumentError('argv', `its first entry must name a program, not "${(v[0] as string).slice(0, 64)}"`);
  return v as string[];
}

function flag(o: Record<string, unknown>, field: string): boolean {
  const v = o[field];
  if (v === undefined) return false;
  if (typeof v !== 'boolean') throw new InvalidArgumentError(field, 'must be true or false');
  return v;
}

function termName(o: Record<string, unknown>): string {
  const v = o.term;
  if (v === undefined || v === '') return '';
  if (typeof v !== 'string' || !TERM_NAME.test(v)) throw new InvalidArgumentError('term', 'must be a terminal type name (letters, digits, ._+-; at most 64)');
  return v;
}

/** One request line → a checked request; throws InvalidArgumentError naming what is wrong. */
export function parseRequest(line: string): AdminRequest {
  if (Buffer.byteLength(line) > MAX_REQUEST_BYTES) throw new InvalidArgumentError('request', `longer than ${MAX_REQUEST_BYTES} bytes`);
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    throw new InvalidArgumentError('request', 'not a JSON object on one line');
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new InvalidArgumentError('request', 'not a JSON object');
  const o = raw as Record<string, unknown>;
  if (o.v !== ADMIN_PROTOCOL_VERSION) throw new InvalidArgumentError('v', `this daemon speaks admin protocol ${ADMIN_PROTOCOL_VERSION}; the client and daemon are different vmpod versions`);
  const allowed: Record<AdminRequest['cmd'], string[]> = {
    pods: [],
    vm: ['pod'],
    console: ['pod', 'bytes'],
    'agent-log': ['pod', 'sinceSeq'],
    debug: ['pod', 'argv', 'tty', 'rows', 'cols', 'term'],
    overhead: ['intervalMs'],
  };
  const cmd = o.cmd;
  if (typeof cmd !== 'string' || !(ADMIN_COMMANDS as readonly string[]).includes(cmd)) {
    throw new InvalidArgumentError('cmd', `unknown command ${JSON.stringify(cmd)}; known: ${ADMIN_COMMANDS.join(', ')}`);
  }
  const known = ['v', 'cmd', ...allowed[cmd as AdminRequest['cmd']]];
  const extra = Object.keys(o).filter((k) => !known.includes(k));
  if (extra.length > 0) throw new InvalidArgumentError(extra[0], `not a field of "${cmd}"`);
  switch (cmd as AdminRequest['cmd']) {
    case 'pods':
      return { cmd: 'pods' };
    case 'vm':
      return { cmd: 'vm', pod: podRef(o) };
    case 'console':
      return { cmd: 'console', pod: podRef(o), bytes: count(o, 'bytes', DEFAULT_CONSOLE_BYTES, 1, MAX_CONSOLE_BYTES) };
    case 'agent-log':
      return { cmd: 'agent-log', pod: podRef(o), sinceSeq: count(o, 'sinceSeq', 0, 0, Number.MAX_SAFE_INTEGER) };
    case 'debug':
      return { cmd: 'debug', pod: podRef(o), argv: debugArgv(o), tty: flag(o, 'tty'), rows: count(o, 'rows', 0, 0, 0xffff), cols: count(o, 'cols', 0, 0, 0xffff), term: termName(o) };
    case 'overhead':
      return { cmd: 'overhead', intervalMs: count(o, 'intervalMs', DEFAULT_OVERHEAD_INTERVAL_MS, 100, MAX_OVERHEAD_INTERVAL_MS) };
  }
}

/** The request line a client sends. */
export function encodeRequest(req: AdminRequest): string {
  return `${JSON.stringify({ v: ADMIN_PROTOCOL_VERSION, ...req })}\n`;
}

export function encodeResponse(res: AdminResponse): string {
  return `${JSON.stringify(res)}\n`;
}

/** The daemon's answer line → a response; throws when it is not one (a client talking to something else). */
export function parseResponse(line: string): AdminResponse {
  const raw = JSON.parse(line) as unknown;
  if (typeof raw !== 'object' || raw === null) throw new Error('the admin socket answered something that is not a JSON object');
  const o = raw as Record<string, unknown>;
  if (o.ok === true && typeof o.result === 'object' && o.result !== null) return o as unknown as AdminResponse;
  const e = o.error as Record<string, unknown> | undefined;
  if (o.ok === false && typeof e?.code === 'string' && typeof e.message === 'string') return { ok: false, error: { code: e.code, message: e.message } };
  throw new Error('the admin socket answered something that is not an admin response');
}
