// The typed shape of /etc/vmpod/vmpod.toml after defaults are applied.
// docs/config.md documents every key; src/config/schema.ts validates them.

import type { HandlerConfig } from './handler-config';

export type { HandlerConfig } from './handler-config';
export type { Accel, AgentTransport, MicrovmConfig, MicrovmHandlerConfig } from './handlers/microvm';
export type { RuncHandlerConfig } from './handlers/runc';
export type { VmImageConfig, VmImageFirmware, VmImageHandlerConfig, VmImageMachine } from './handlers/vm-image';

export type Trust = 'trusted' | 'untrusted';
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';

export interface RegistryConfig {
  insecure: boolean;
  mirrors: string[];
  ca_file?: string;
  /** Credentials for this host, used when it serves as a mirror and, when a pull brings none, as the registry. */
  auth?: RegistryAuthConfig;
}

/**
 * `[registries."<host>".auth]`: exactly one form, as containerd's
 * `registry.configs."<host>".auth` (username/password, `auth` = base64 of
 * "user:pass", or an identity token); checked at load (src/config/load.ts).
 */
export interface RegistryAuthConfig {
  username?: string;
  password?: string;
  auth?: string;
  identity_token?: string;
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

/** `[streaming]`: the server behind the Exec, Attach and PortForward URLs (docs/streaming.md). */
export interface StreamingConfig {
  /** Address to listen on; 127.0.0.1 keeps it to this node (kubelet proxies from here). */
  address: string;
  /** 0: an ephemeral port, chosen at start-up. */
  port: number;
  /** Both or neither: serve https with this certificate and key (PEM). */
  tls_cert_file?: string;
  tls_key_file?: string;
  /** Seconds a URL's token stays valid (containerd: 1 minute). */
  token_ttl_s: number;
  /** Issued URLs not yet used or expired; beyond it Exec/Attach/PortForward answer RESOURCE_EXHAUSTED. */
  max_outstanding_urls: number;
  /** A session whose connection carries nothing either way for a whole period of this is closed (kubelet: 4 hours). */
  stream_idle_timeout_s: number;
  /** Open sessions at once; more are refused with HTTP 503. */
  max_sessions: number;
}

/** `[images]`: what one pull may unpack (src/image/limits.ts); past a limit the pull fails with RESOURCE_EXHAUSTED and nothing of it is kept. */
export interface ImagesConfig {
  /** Uncompressed bytes of one layer. */
  max_layer_bytes: number;
  /** Uncompressed bytes of all layers one pull unpacks. */
  max_image_bytes: number;
  /** Files, directories and links of one layer. */
  max_layer_entries: number;
  /** An unpack stops when the image filesystem has less free space than this. */
  min_free_bytes: number;
}

/** `[metrics]`: the Prometheus endpoint (docs/metrics.md). Off unless enabled. */
export interface MetricsConfig {
  enabled: boolean;
  /** `host:port` to serve http://<address>/metrics on; 127.0.0.1 keeps it to this node. */
  address: string;
}

/** `[debug]`: operator debugging through the root-only admin socket (docs/guest-debug.md). */
export interface DebugConfig {
  /**
   * `vmpod debug <pod>`: a shell in a VM pod's guest itself, through its
   * agent. Off by default; read when a pod starts (its guest accepts debug
   * processes only if it was on then) and on every request.
   */
  guest_shell: boolean;
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
  streaming: StreamingConfig;
  images: ImagesConfig;
  metrics: MetricsConfig;
  debug: DebugConfig;
}
