// What the daemon-level handlers (Version, Status, RuntimeConfig,
// UpdateRuntimeConfig) need to know about the running daemon.

import type { VmpodConfig } from '../../config/types';
import type { Capability } from '../../host/capabilities';

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
  podCidr(): string;
  setPodCidr(cidr: string): void;
}
