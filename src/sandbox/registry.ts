// Handler types and the controllers built from them. A handler type is what a
// `[runtime.handlers.<name>]` table's `type` selects: its config keys (from
// src/config/handlers/), how to build a controller for one handler, and what
// that handler needs from the host (for `vmpod check` and verbose Status).
// The composition root builds one controller per configured handler, the
// same way for every type; nothing outside a controller and this registry
// asks which type a pod runs on.

import type { HandlerConfig, HandlerConfigDef } from '../config/handler-config';
import type { VmpodConfig } from '../config/types';
import type { Capability } from '../host/capabilities';
import type { Logger } from '../log';
import type { HostFacts } from '../oci/input';
import type { SandboxController } from './controller';
import type { PhaseObserver } from './steps';

/** What every controller may use, whatever its type. */
export interface ControllerContext {
  /** debug: `[debug] guest_shell` is told to a VM pod's guest when it starts. */
  config: Pick<VmpodConfig, 'root' | 'state' | 'debug'>;
  host: HostFacts;
  log: Logger;
  /** Told how long each step of a pod's start took (src/metrics); none when metrics are off. */
  phases?: PhaseObserver;
}

export interface HostCheckOptions {
  /** Also run the probes that take seconds (`vmpod check`: boot a guest with KVM); verbose Status does not. */
  deep: boolean;
}

export interface HostReport {
  /** Facts this handler needs; a capability not OK blocks the handler. */
  capabilities: Capability[];
  /** What the handler will use on this host and why (`vmpod check` prints them). */
  decisions: string[];
}

export interface HandlerType<C extends HandlerConfig = HandlerConfig> {
  readonly config: HandlerConfigDef<C>;
  createController(name: string, cfg: C, ctx: ControllerContext): SandboxController;
  checkHost(name: string, cfg: C, opts: HostCheckOptions): Promise<HostReport>;
}

export class HandlerTypes {
  private readonly byType = new Map<string, HandlerType>();

  register<C extends HandlerConfig>(t: HandlerType<C>): this {
    if (this.byType.has(t.config.type)) throw new Error(`handler type "${t.config.type}" registered twice`);
    this.byType.set(t.config.type, t);
    return this;
  }

  /** The config definitions, for config validation. */
  configs(): HandlerConfigDef[] {
    return [...this.byType.values()].map((t) => t.config);
  }

  of(cfg: HandlerConfig): HandlerType {
    const t = this.byType.get(cfg.type);
    if (!t) throw new Error(`handler type "${cfg.type}" is not registered`);
    return t;
  }

  /** One controller per configured handler, by handler name. */
  createControllers(handlers: Record<string, HandlerConfig>, ctx: ControllerContext): Map<string, SandboxController> {
    const out = new Map<string, SandboxController>();
    for (const [name, cfg] of Object.entries(handlers)) out.set(name, this.of(cfg).createController(name, cfg, ctx));
    return out;
  }
}
