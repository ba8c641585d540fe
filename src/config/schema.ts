// JSON Schema for the TOML config. `additionalProperties: false` everywhere so
// that a misspelt key is a start-up error naming it instead of a silent default.

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
        handlers: {
          type: 'object',
          propertyNames: { pattern: handlerName },
          additionalProperties: {
            type: 'object',
            additionalProperties: false,
            required: ['type'],
            properties: { type: { enum: ['runc', 'microvm'] } },
          },
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
    microvm: {
      type: 'object',
      additionalProperties: false,
      properties: {
        accel: { enum: ['auto', 'kvm', 'tcg'] },
        agent_transport: { enum: ['auto', 'vsock', 'serial'] },
        vcpus: { type: 'integer', minimum: 1, maximum: 64 },
        memory_mib: { type: 'integer', minimum: 128, maximum: 262144 },
        guest_dir: { type: 'string' },
        qemu_binary: str,
        boot_timeout_s: { type: 'number', exclusiveMinimum: 0, maximum: 3600 },
      },
    },
  },
} as const;
