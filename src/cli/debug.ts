// The operator debug commands (`vmpod pods`, `vmpod vm`, `vmpod console`,
// `vmpod logs --agent`, `vmpod debug`, `vmpod overhead`). Each sends one request to the
// daemon's admin socket (src/admin), which sits next to the CRI socket and is
// root's only; none of them talks to QEMU or a guest. `vmpod debug` then
// streams a session (guest-debug.ts).

import { parseArgs } from 'node:util';
import { DEFAULT_CONFIG_PATH } from '../config/defaults';
import type { HandlerConfigDef } from '../config/handler-config';
import { loadConfig } from '../config/load';
import { adminCall, AdminClientError, adminSocketPath } from '../admin/client';
import { formatAgentLog, formatOverhead, formatPods, formatVm, printableLines } from '../admin/format';
import { DEFAULT_OVERHEAD_INTERVAL_MS, type AdminRequest, type AdminResult } from '../admin/protocol';
import { ConfigError } from '../../common/errors';
import { GUEST_DEBUG_USAGE, runGuestDebug } from './guest-debug';

export const DEBUG_COMMANDS = ['pods', 'vm', 'console', 'logs', 'debug', 'overhead'];

export const DEBUG_USAGE = `
Debug commands (root only; they ask the running daemon over its admin socket,
<dir of the CRI socket>/vmpod-admin.sock):
  pods                  list pod sandboxes: id, name, namespace, handler, state, created
  vm POD                a pod's isolation: QEMU pid, accel, agent transport, memory, vCPUs, CID, console tail
  console POD           the pod VM's serial console log (--bytes N, default 65536)
  logs --agent POD      the pod VM's guest agent log ring
  overhead              the VM pods' measured hypervisor overhead (memory, CPU: median, max) and the
                        RuntimeClass overhead.podFixed it suggests (--interval-ms N between the two readings, default 2000)
${GUEST_DEBUG_USAGE}  POD is a pod sandbox id or a unique prefix of one.
Options (debug commands): --config FILE, --listen PATH (to find the socket), --bytes N (console), --interval-ms N (overhead)
`;

/** argv (after the command) → the admin request and the CRI socket to find the admin socket by. Throws ConfigError. */
export function parseDebugArgs(command: string, argv: string[], types: readonly HandlerConfigDef[]): { req: AdminRequest; criSocket: string } {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      config: { type: 'string' },
      listen: { type: 'string' },
      bytes: { type: 'string' },
      agent: { type: 'boolean' },
      'interval-ms': { type: 'string' },
    },
  });
  const want = command === 'pods' || command === 'overhead' ? 0 : 1;
  if (positionals.length !== want) throw new ConfigError(command, want === 0 ? 'takes no argument' : 'takes one argument: a pod sandbox id or unique prefix');
  if (values.bytes !== undefined && command !== 'console') throw new ConfigError('--bytes', `is an option of "console", not "${command}"`);
  if (values.agent !== undefined && command !== 'logs') throw new ConfigError('--agent', `is an option of "logs", not "${command}"`);
  if (values['interval-ms'] !== undefined && command !== 'overhead') throw new ConfigError('--interval-ms', `is an option of "overhead", not "${command}"`);
  let criSocket = values.listen;
  if (criSocket === undefined) criSocket = loadConfig(values.config ?? DEFAULT_CONFIG_PATH, values.config !== undefined, types).listen;
  else if (!criSocket.startsWith('/')) throw new ConfigError('--listen', 'must be an absolute path');
  const pod = positionals[0] ?? '';
  switch (command) {
    case 'pods':
      return { req: { cmd: 'pods' }, criSocket };
    case 'overhead': {
      const ms = values['interval-ms'];
      if (ms !== undefined && !/^\d+$/.test(ms)) throw new ConfigError('--interval-ms', 'must be a number of milliseconds');
      return { req: { cmd: 'overhead', intervalMs: ms === undefined ? DEFAULT_OVERHEAD_INTERVAL_MS : Number(ms) }, criSocket };
    }
    case 'vm':
      return { req: { cmd: 'vm', pod }, criSocket };
    case 'console': {
      const bytes = values.bytes === undefined ? 64 * 1024 : Number(values.bytes);
      if (!/^\d+$/.test(values.bytes ?? '0')) throw new ConfigError('--bytes', 'must be a number of bytes');
      return { req: { cmd: 'console', pod, bytes }, criSocket };
    }
    case 'logs':
      // Container logs are kubelet's (crictl logs); only the agent's log is the daemon's to show.
      if (values.agent !== true) throw new ConfigError('logs', 'only --agent is supported: container logs are read with crictl logs');
      return { req: { cmd: 'agent-log', pod, sinceSeq: 0 }, criSocket };
    default:
      throw new ConfigError(command, 'not a debug command');
  }
}

export function render(result: AdminResult): string {
  if ('pods' in result) return formatPods(result.pods);
  if ('vm' in result) return formatVm(result.vm);
  if ('console' in result) return printableLines(result.console);
  if ('agentLog' in result) return formatAgentLog(result.agentLog);
  if ('overhead' in result) return formatOverhead(result.overhead);
  return ''; // a debug session is streamed (guest-debug.ts), never rendered
}

/** Runs one debug command; the exit code: 0, 1 when the daemon refused (its reason on stderr). */
export async function runDebug(command: string, argv: string[], types: readonly HandlerConfigDef[]): Promise<number> {
  if (command === 'debug') return runGuestDebug(argv, types);
  const { req, criSocket } = parseDebugArgs(command, argv, types);
  const path = adminSocketPath(criSocket);
  let res;
  try {
    res = await adminCall(path, req);
  } catch (err) {
    if (!(err instanceof AdminClientError)) throw err;
    process.stderr.write(`vmpod ${command}: ${err.message}\n`);
    return 1;
  }
  if (!res.ok) {
    process.stderr.write(`vmpod ${command}: ${res.error.message} (${res.error.code})\n`);
    return 1;
  }
  process.stdout.write(render(res.result));
  return 0;
}
