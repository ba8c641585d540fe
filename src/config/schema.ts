// JSON Schema for the TOML config. `additionalProperties: false` everywhere so
// that a misspelt key is a start-up error naming it instead of a silent default.

import type { HandlerConfigDef } from './handler-config';

const str = { type: 'string', minLength: 1 } as const;
const absPath = { type: 'string', pattern: '^/' } as const;
const handlerName = '^[a-z0-9]([-a-z0-9_.]*[a-z0-9])?$';

export const configSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    listen: absPath,
    root: absPath,
    state: absPath,
    log_level: { enum: ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] },
    shutdown_timeout_s: { type: 'number', minimum: 0, maximum: 600 },
    runtime: {
      type: 'object',
      additionalProperties: false,
      properties: {
        default_trust: { enum: ['trusted', 'untrusted'] },
        default_handler: str,
        untrusted_handler: str,
        cgroup_driver: { enum: ['cgroupfs'] },
        // Each handler table is checked against its type's own keys in
        // load.ts (handlerSchema): the types are registered, not listed here.
        handlers: {
          type: 'object',
          propertyNames: { pattern: handlerName },
          additionalProperties: { type: 'object', properties: { type: str } },
        },
      },
    },
    registries: {
      type: 'object',
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        properties: {
          insecure: { type: 'boolean' },
          mirrors: { type: 'array', items: str },
          ca_file: absPath,
          // containerd's registry.configs."<host>".auth (pkg/cri/config AuthConfig: username, password,
          // auth, identitytoken); identity_token is spelt as in the CRI AuthConfig. Which form, and that
          // there is exactly one, is checked in load.ts (checkRegistryAuth) so the error names the host.
          auth: {
            type: 'object',
            additionalProperties: false,
            properties: { username: { type: 'string' }, password: { type: 'string' }, auth: { type: 'string' }, identity_token: { type: 'string' } },
          },
        },
      },
    },
    network: {
      type: 'object',
      additionalProperties: false,
      properties: {
        cni_conf_dir: absPath,
        cni_bin_dirs: { type: 'array', items: absPath },
        plugin_timeout_s: { type: 'number', exclusiveMinimum: 0, maximum: 600 },
      },
    },
    streaming: {
      type: 'object',
      additionalProperties: false,
      // TLS needs both files; one alone is a mistake, not plain http.
      dependencies: { tls_cert_file: ['tls_key_file'], tls_key_file: ['tls_cert_file'] },
      properties: {
        address: str,
        port: { type: 'integer', minimum: 0, maximum: 65535 },
        tls_cert_file: absPath,
        tls_key_file: absPath,
        token_ttl_s: { type: 'number', exclusiveMinimum: 0, maximum: 3600 },
        max_outstanding_urls: { type: 'integer', minimum: 1 },
        stream_idle_timeout_s: { type: 'number', exclusiveMinimum: 0 },
        max_sessions: { type: 'integer', minimum: 1 },
      },
    },
    images: {
      type: 'object',
      additionalProperties: false,
      properties: {
        max_layer_bytes: { type: 'integer', minimum: 1 },
        max_image_bytes: { type: 'integer', minimum: 1 },
        max_layer_entries: { type: 'integer', minimum: 1 },
        min_free_bytes: { type: 'integer', minimum: 0 },
      },
    },
    metrics: {
      type: 'object',
      additionalProperties: false,
      properties: {
        enabled: { type: 'boolean' },
        // host:port, or [v6]:port; the port is required (0: an ephemeral one, for tests).
        address: { type: 'string', pattern: '^(\\[[0-9a-fA-F:.]+\\]|[^:\\[\\]]+):[0-9]{1,5}$' },
      },
    },
    debug: {
      type: 'object',
      additionalProperties: false,
      properties: { guest_shell: { type: 'boolean' } },
    },
  },
} as const;

/** The schema of one `[runtime.handlers.<name>]` table of type `def.type`. */
export function handlerSchema(def: HandlerConfigDef): object {
  return { type: 'object', additionalProperties: false, required: ['type'], properties: { type: { const: def.type }, ...def.properties } };
}
