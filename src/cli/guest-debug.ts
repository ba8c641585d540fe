// `vmpod debug POD [-- CMD ARGS...]`: a process in the pod's guest VM itself
// (not in a container), through the daemon's admin socket and the pod's
// agent; off unless the daemon's config has `[debug] guest_shell = true`.
// With no command: an interactive /bin/sh, on a terminal when this one is
// one. With a command: on pipes (stdout and stderr apart) unless -t asks for
// a terminal, as ssh does; the CLI exits with the command's exit code.

import { parseArgs } from 'node:util';
import { DEFAULT_CONFIG_PATH } from '../config/defaults';
import type { HandlerConfigDef } from '../config/handler-config';
import { loadConfig } from '../config/load';
import { adminSocketPath } from '../admin/client';
import { debugSession, type DebugStdio } from '../admin/debug-client';
import { printable } from '../admin/format';
import { DEFAULT_DEBUG_ARGV, type DebugRequest } from '../admin/protocol';
import { ConfigError } from '../../common/errors';

export const GUEST_DEBUG_USAGE = `  debug POD [-- CMD ARGS...]
                        a shell (or CMD) in the pod's guest VM itself, outside its containers;
                        only when the daemon's config has [debug] guest_shell = true.
                        -t: a terminal for CMD too (without CMD: when stdin is a terminal)
`;

/** argv after `debug` → the request and the CRI socket to find the admin socket by. `isTty`: stdin and stdout are terminals. Throws ConfigError. */
export function parseGuestDebugArgs(
  argv: string[],
  isTty: boolean,
  size: { rows?: number; columns?: number },
  term: string | undefined,
  types: readonly HandlerConfigDef[],
): { req: DebugRequest; criSocket: string } {
  const dash = argv.indexOf('--');
  const own = dash < 0 ? argv : argv.slice(0, dash);
  const cmd = dash < 0 ? [] : argv.slice(dash + 1);
  const { values, positionals } = parseArgs({
    args: own,
    allowPositionals: true,
    strict: true,
    options: { config: { type: 'string' }, listen: { type: 'string' }, tty: { type: 'boolean', short: 't' } },
  });
  if (positionals.length !== 1) throw new ConfigError('debug', 'takes one argument, a pod sandbox id or unique prefix; the command goes after --');
  if (dash >= 0 && cmd.length === 0) throw new ConfigError('debug', 'nothing after --: name the command to run, or leave out -- for a shell');
  let criSocket = values.listen;
  if (criSocket === undefined) criSocket = loadConfig(values.config ?? DEFAULT_CONFIG_PATH, values.config !== undefined, types).listen;
  else if (!criSocket.startsWith('/')) throw new ConfigError('--listen', 'must be an absolute path');
  const tty = values.tty === true || (cmd.length === 0 && isTty);
  return {
    req: {
      cmd: 'debug',
      pod: positionals[0],
      argv: cmd.length > 0 ? cmd : [...DEFAULT_DEBUG_ARGV],
      tty,
      rows: tty ? (size.rows ?? 0) : 0,
      cols: tty ? (size.columns ?? 0) : 0,
      term: tty && term && /^[A-Za-z0-9._+-]{1,64}$/.test(term) ? term : '',
    },
    criSocket,
  };
}

export async function runGuestDebug(argv: string[], types: readonly HandlerConfigDef[]): Promise<number> {
  const isTty = process.stdin.isTTY === true && process.stdout.isTTY === true;
  const { req, criSocket } = parseGuestDebugArgs(argv, isTty, { rows: process.stdout.rows, columns: process.stdout.columns }, process.env.TERM, types);
  const io: DebugStdio = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr };
  // Messages from the daemon may carry a guest's words: shown escaped.
  return debugSession(adminSocketPath(criSocket), req, io, (line) => process.stderr.write(`${req.tty ? '\r\n' : ''}vmpod debug: ${printable(line)}\n`));
}
