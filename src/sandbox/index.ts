// Registers the sandbox controllers explicitly (no import side effects). The
// microvm controller is added here when it exists; until then a pod routed to
// a microvm handler is refused with UNIMPLEMENTED by the CRI layer.

import type { HandlerType } from '../config/types';
import type { HostFacts } from '../oci/input';
import type { SandboxController } from './controller';
import { RuncController } from './runc/controller';

export interface ControllerOptions {
  state: string;
  host: HostFacts;
  /** Extra controllers (the microvm one) registered by their own module. */
  extra?: SandboxController[];
}

export function createControllers(opts: ControllerOptions): Map<HandlerType, SandboxController> {
  const map = new Map<HandlerType, SandboxController>();
  map.set('runc', new RuncController({ state: opts.state, host: opts.host }));
  for (const c of opts.extra ?? []) map.set(c.type, c);
  return map;
}

export type { SandboxController } from './controller';
export { routePod, type Route } from './route';
