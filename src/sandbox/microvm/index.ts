// The microvm handler type: untrusted pods, each in its own QEMU VM with the
// vmpod agent.

import { microvmHandlerConfig, type MicrovmHandlerConfig } from '../../config/handlers/microvm';
import type { HandlerType } from '../registry';
import { MicrovmController } from './controller';
import { checkMicrovmHost } from './host-check';

export const microvmHandlerType: HandlerType<MicrovmHandlerConfig> = {
  config: microvmHandlerConfig,
  createController: (name, cfg, ctx) => new MicrovmController({ handler: name, config: ctx.config, microvm: cfg, host: ctx.host, logger: ctx.log, phases: ctx.phases }),
  checkHost: (name, cfg, opts) => checkMicrovmHost(name, cfg, opts),
};
