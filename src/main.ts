#!/usr/bin/env node
import { runCheck } from './cli/check';
import { DEBUG_COMMANDS, DEBUG_USAGE, runDebug } from './cli/debug';
import { quietOnClosedOutput } from './cli/closed-output';
import { parseCli, USAGE } from './cli/options';
import { runServe } from './cli/serve';
import { packageVersion } from './cli/version';
import { ConfigError, VmpodError } from '../common/errors';
import { handlerTypes } from './sandbox';

async function main(argv: string[]): Promise<number> {
  quietOnClosedOutput();
  const types = handlerTypes();
  // The debug commands have their own arguments (a pod, --agent, --bytes; after `--`, vmpod debug's command and its own options).
  const own = argv.includes('--') ? argv.slice(0, argv.indexOf('--')) : argv;
  if (DEBUG_COMMANDS.includes(argv[0] ?? '') && !own.includes('--help') && !own.includes('-h')) return runDebug(argv[0], argv.slice(1), types.configs());
  const cli = parseCli(argv, types.configs());
  if (cli.help || cli.command === '') {
    process.stdout.write(USAGE + DEBUG_USAGE);
    return cli.help ? 0 : 2;
  }
  switch (cli.command) {
    case 'version':
      process.stdout.write(`vmpod ${packageVersion()}\nCRI runtime API v1\nnode ${process.version}\n`);
      return 0;
    case 'check':
      return runCheck(cli.config, types, process.stdout, { nodeLabels: cli.nodeLabels });
    case 'serve':
      await runServe(cli.config, types);
      return -1; // keep running
    default:
      process.stderr.write(`vmpod: unknown command "${cli.command}"\n\n${USAGE}${DEBUG_USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (err: unknown) => {
    const known = err instanceof ConfigError || err instanceof VmpodError || (err as { code?: string })?.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION';
    process.stderr.write(`vmpod: ${known ? (err as Error).message : ((err as Error)?.stack ?? String(err))}\n`);
    process.exitCode = 1;
  },
);
