// The runc handler type: trusted pods on the host.

import { runcHandlerConfig, type RuncHandlerConfig } from '../../config/handlers/runc';
import type { HandlerType } from '../registry';
import { RuncController } from './controller';
import { checkRuncHost } from './host-check';

export const runcHandlerType: HandlerType<RuncHandlerConfig> = {
  config: runcHandlerConfig,
  createController: (name, _cfg, ctx) => new RuncController({ handler: name, state: ctx.config.state, host: ctx.host, log: ctx.log, phases: ctx.phases }),
  checkHost: (name) => checkRuncHost(name),
};
