// The handler types this build knows, registered explicitly (no import side
// effects): a `[runtime.handlers.<name>]` table's `type` selects one. Adding
// a type is a folder here with its controller, its config keys in
// src/config/handlers/, and one line below.

import { microvmHandlerType } from './microvm';
import { HandlerTypes } from './registry';
import { runcHandlerType } from './runc';
import { vmImageHandlerType } from './vmimage';

export function handlerTypes(): HandlerTypes {
  return new HandlerTypes().register(runcHandlerType).register(microvmHandlerType).register(vmImageHandlerType);
}

export type { SandboxController } from './controller';
export type { ControllerContext, HandlerType, HostReport } from './registry';
export { HandlerTypes } from './registry';
