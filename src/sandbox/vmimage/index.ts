// The vm-image handler type: each pod boots the disk its one container's
// image carries (a KubeVirt containerDisk) in a QEMU VM of its own.

import { vmImageHandlerConfig, type VmImageHandlerConfig } from '../../config/handlers/vm-image';
import type { HandlerType } from '../registry';
import { VmImageController } from './controller';
import { checkVmImageHost } from './host-check';

export const vmImageHandlerType: HandlerType<VmImageHandlerConfig> = {
  config: vmImageHandlerConfig,
  createController: (name, cfg, ctx) => new VmImageController({ handler: name, config: ctx.config, vmImage: cfg, logger: ctx.log, phases: ctx.phases }),
  checkHost: (name, cfg, opts) => checkVmImageHost(name, cfg, opts),
};

export { VmImageController } from './controller';
