// The RuntimeService, as one table of thin handlers over the PodService and
// the daemon's own facts; grouped by what they act on, as the agent's rpc/ is.

import type { PodService } from '../../pods/service';
import type { HandlerTable } from '../handler';
import type { StreamHandler } from '../wrap';
import { containerHandlers } from './containers';
import { daemonHandlers } from './daemon';
import { eventStreams } from './events';
import { execHandlers } from './exec';
import type { DaemonInfo } from './info';
import { podHandlers } from './pods';
import { statsHandlers } from './stats';

export function runtimeHandlers(pods: PodService, info: DaemonInfo): HandlerTable {
  return { ...daemonHandlers(info), ...podHandlers(pods), ...containerHandlers(pods), ...execHandlers(pods), ...statsHandlers(pods) };
}

/** The RuntimeService's own server-streaming RPCs (the Stream* list RPCs derive from the table above, in server.ts). */
export function runtimeStreams(pods: PodService): Record<string, StreamHandler> {
  return { ...eventStreams(pods) };
}
