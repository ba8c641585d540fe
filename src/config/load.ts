import { readFileSync } from 'node:fs';
import Ajv, { type ErrorObject } from 'ajv';
import { parse as parseToml } from 'smol-toml';
import { ConfigError } from '../../common/errors';
import { defaultConfig } from './defaults';
import { configSchema } from './schema';
import type { RegistryConfig, VmpodConfig } from './types';

const validate = new Ajv({ allErrors: false, strict: true }).compile(configSchema);

/** Dotted key path of the first schema violation, e.g. `microvm.vcpus`. */
function keyOf(err: ErrorObject): string {
  const base = err.instancePath.split('/').filter(Boolean).map(decodePointer);
  if (err.keyword === 'additionalProperties') base.push(String(err.params.additionalProperty));
  if (err.keyword === 'propertyNames') base.push(String(err.params.propertyName));
  return base.join('.') || '(top level)';
}

function decodePointer(part: string): string {
  return part.replace(/~1/g, '/').replace(/~0/g, '~');
}

function problemOf(err: ErrorObject): string {
  switch (err.keyword) {
    case 'additionalProperties':
      return 'unknown key';
    case 'enum':
      return `must be one of ${(err.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    case 'pattern':
      return err.params.pattern === '^/' ? 'must be an absolute path' : `must match ${err.params.pattern}`;
    default:
      return err.message ?? 'invalid';
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

/** Deep merge where tables merge and everything else replaces. */
function merge<T>(base: T, over: unknown): T {
  if (!isPlainObject(base) || !isPlainObject(over)) return over as T;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = k in out ? merge(out[k], v) : v;
  return out as T;
}

/** Parse and validate TOML text, then lay it over the defaults. */
export function parseConfig(text: string, source = 'config'): VmpodConfig {
  let raw: unknown;
  try {
    raw = parseToml(text);
  } catch (err) {
    throw new ConfigError(source, `not valid TOML: ${(err as Error).message.split('\n')[0]}`);
  }
  if (!validate(raw)) {
    const first = validate.errors![0]!;
    throw new ConfigError(keyOf(first), problemOf(first));
  }
  const cfg = merge(defaultConfig(), raw);
  // Registry tables get their defaults per host, since hosts are user-named keys.
  for (const [host, reg] of Object.entries(cfg.registries as Record<string, Partial<RegistryConfig>>)) {
    cfg.registries[host] = { insecure: false, mirrors: [], ...reg };
  }
  checkHandlers(cfg);
  return cfg;
}

function checkHandlers(cfg: VmpodConfig): void {
  const { handlers, default_handler, untrusted_handler } = cfg.runtime;
  const names = Object.keys(handlers);
  if (!handlers[default_handler]) {
    throw new ConfigError('runtime.default_handler', `"${default_handler}" is not a configured handler (have: ${names.join(', ')})`);
  }
  if (!handlers[untrusted_handler]) {
    throw new ConfigError('runtime.untrusted_handler', `"${untrusted_handler}" is not a configured handler (have: ${names.join(', ')})`);
  }
  if (handlers[untrusted_handler]!.type !== 'microvm') {
    throw new ConfigError('runtime.untrusted_handler', `"${untrusted_handler}" must be a microvm handler: untrusted pods never run with runc`);
  }
}

/**
 * Load the config file. A missing file at the default path means "all
 * defaults"; a missing file the operator named explicitly is an error.
 */
export function loadConfig(path: string, explicit: boolean): VmpodConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !explicit) return defaultConfig();
    throw new ConfigError(path, `cannot read: ${(err as Error).message}`);
  }
  return parseConfig(text, path);
}
