// What the daemon-level handlers (Version, Status, RuntimeConfig,
// UpdateRuntimeConfig) need to know about the running daemon.

import type { VmpodConfig } from '../../config/types';
import type { Capability } from '../../host/capabilities';
import type { HandlerFeatureFlags } from '../../sandbox/controller';

export interface NetworkReadiness {
  ready: boolean;
  reason: string;
  message: string;
}

export interface DaemonInfo {
  config: VmpodConfig;
  version: string;
  /** Cheap host facts (no VM probes): reported in verbose Status. */
  capabilities(): Promise<Capability[]>;
  network(): NetworkReadiness;
  /** What handler `name` supports ("" is the default handler), from its controller; absent (test doubles): nothing. */
  handlerFeatures?(name: string): HandlerFeatureFlags;
  podCidr(): string;
  setPodCidr(cidr: string): void;
}
