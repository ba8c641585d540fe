import type { HandlerTable } from '../handler';
import type { DaemonInfo } from './info';
import { runtimeConfigHandler } from './runtime-config';
import { statusHandler } from './status';
import { updateRuntimeConfigHandler } from './update-runtime-config';
import { versionHandler } from './version';

/** Daemon-level RuntimeService methods; pod and container lifecycle tables are merged in by the daemon. */
export function daemonHandlers(info: DaemonInfo): HandlerTable {
  return {
    Version: versionHandler(info),
    Status: statusHandler(info),
    RuntimeConfig: runtimeConfigHandler(info),
    UpdateRuntimeConfig: updateRuntimeConfigHandler(info),
  };
}
