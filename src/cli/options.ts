import { parseArgs } from 'node:util';
import { DEFAULT_CONFIG_PATH } from '../config/defaults';
import { loadConfig } from '../config/load';
import type { HandlerConfigDef } from '../config/handler-config';
import type { LogLevel, VmpodConfig } from '../config/types';
import { ConfigError } from '../../common/errors';

export const USAGE = `Usage: vmpod <command> [options]

Commands:
  serve      serve the CRI runtime and image services on a unix socket (foreground)
  check      report what this host offers vmpod (exit 1 if a configured handler cannot work)
  version    print the version

Options (serve, check):
  --config FILE      config file (default ${DEFAULT_CONFIG_PATH}; missing default file = all defaults)
  --listen PATH      CRI socket (default /run/vmpod/vmpod.sock)
  --root DIR         persistent state (default /var/lib/vmpod)
  --state DIR        runtime state (default /run/vmpod)
  --log-level LEVEL  trace|debug|info|warn|error|fatal (default info)
  -h, --help         this help

Options (check):
  --node-labels FILE also write node-feature-discovery labels (vmpod.io/...) to FILE, atomically
                     (nfd's local source reads /etc/kubernetes/node-feature-discovery/features.d/)
`;

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];

export interface Cli {
  command: string;
  help: boolean;
  config: VmpodConfig;
  /** check --node-labels FILE */
  nodeLabels?: string;
}

/** Parse argv; flags override the config file. Throws ConfigError naming the flag. */
export function parseCli(argv: string[], types: readonly HandlerConfigDef[]): Cli {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      config: { type: 'string' },
      listen: { type: 'string' },
      root: { type: 'string' },
      state: { type: 'string' },
      'log-level': { type: 'string' },
      'node-labels': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const command = positionals[0] ?? '';
  if (positionals.length > 1) throw new ConfigError(positionals[1], 'unexpected argument');
  const help = values.help === true || command === 'help';
  const config = loadConfig(values.config ?? DEFAULT_CONFIG_PATH, values.config !== undefined, types);
  for (const [flag, key] of [
    ['listen', 'listen'],
    ['root', 'root'],
    ['state', 'state'],
  ] as const) {
    const v = values[flag];
    if (v === undefined) continue;
    if (!v.startsWith('/')) throw new ConfigError(`--${flag}`, 'must be an absolute path');
    config[key] = v;
  }
  const level = values['log-level'];
  if (level !== undefined) {
    if (!LEVELS.includes(level)) throw new ConfigError('--log-level', `must be one of ${LEVELS.join(', ')}`);
    config.log_level = level as LogLevel;
  }
  const nodeLabels = values['node-labels'];
  if (nodeLabels !== undefined && command !== 'check') throw new ConfigError('--node-labels', 'only for vmpod check');
  return { command, help, config, nodeLabels };
}
