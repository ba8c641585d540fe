// The typed shape of /etc/vmpod/vmpod.toml after defaults are applied.
// docs/config.md documents every key; src/config/schema.ts validates them.

import type { HandlerConfig } from './handler-config';

export type { HandlerConfig } from './handler-config';
export type { Accel, AgentTransport, MicrovmConfig, MicrovmHandlerConfig } from './handlers/microvm';
export type { RuncHandlerConfig } from './handlers/runc';

export type Trust = 'trusted' | 'untrusted';
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';

export interface RegistryConfig {
  insecure: boolean;
  mirrors: string[];
  ca_file?: string;
}

export interface RuntimeConfig {
  default_trust: Trust;
  default_handler: string;
  untrusted_handler: string;
  cgroup_driver: 'cgroupfs';
  /** `[runtime.handlers.<name>]`: the RuntimeClass handlers, each validated by its type (src/config/handlers/). */
  handlers: Record<string, HandlerConfig>;
}

export interface NetworkConfig {
  cni_conf_dir: string;
  cni_bin_dirs: string[];
  /** Seconds a single CNI plugin invocation may take. */
  plugin_timeout_s: number;
}

export interface VmpodConfig {
  listen: string;
  root: string;
  state: string;
  log_level: LogLevel;
  /** Seconds in-flight calls get to finish on SIGTERM/SIGINT. */
  shutdown_timeout_s: number;
  runtime: RuntimeConfig;
  registries: Record<string, RegistryConfig>;
  network: NetworkConfig;
}
