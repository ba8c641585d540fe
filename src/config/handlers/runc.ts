// [runtime.handlers.<name>] with type = "runc": trusted pods, run on the host.

import type { HandlerConfigDef } from '../handler-config';

export interface RuncHandlerConfig {
  type: 'runc';
  [key: string]: unknown;
}

export const runcHandlerConfig: HandlerConfigDef<RuncHandlerConfig> = {
  type: 'runc',
  isolation: 'host',
  properties: {},
  defaults: () => ({ type: 'runc' }),
};
