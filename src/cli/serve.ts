import type { VmpodConfig } from '../config/types';
import { startDaemon } from '../daemon/run';
import { createLogger } from '../log';
import type { HandlerTypes } from '../sandbox';
import { packageVersion } from './version';

/** `vmpod serve`: run in the foreground until SIGTERM/SIGINT, then exit 0. */
export async function runServe(cfg: VmpodConfig, types: HandlerTypes): Promise<void> {
  const log = createLogger(cfg.log_level);
  const daemon = await startDaemon(cfg, types, log, packageVersion());
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    // A hard bound in case something in shutdown hangs: the exit must be prompt.
    setTimeout(
      () => {
        log.error('shutdown took too long; exiting');
        process.exit(0);
      },
      (cfg.shutdown_timeout_s + 5) * 1000,
    ).unref();
    daemon.stop(signal).then(
      () => process.exit(0),
      (err: Error) => {
        log.error({ err: err.message }, 'error during shutdown');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
