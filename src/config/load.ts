import { readFileSync } from 'node:fs';
import Ajv, { type ErrorObject } from 'ajv';
import { parse as parseToml } from 'smol-toml';
import { ConfigError } from '../../common/errors';
import { defaultConfig } from './defaults';
import type { HandlerConfig, HandlerConfigDef } from './handler-config';
import { configSchema, handlerSchema } from './schema';
import type { RegistryAuthConfig, RegistryConfig, VmpodConfig } from './types';

const ajv = new Ajv({ allErrors: false, strict: true });
const validate = ajv.compile(configSchema);

/** Dotted key path of the first schema violation, e.g. `network.cni_bin_dirs`. */
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
    case 'const':
      return `must be ${JSON.stringify(err.params.allowedValue)}`;
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

/**
 * Parse and validate TOML text, then lay it over the defaults. `types` are the
 * registered handler types (src/sandbox/index.ts): each handler table is
 * validated against its type's keys and gets that type's defaults.
 */
export function parseConfig(text: string, types: readonly HandlerConfigDef[], source = 'config'): VmpodConfig {
  let raw: unknown;
  try {
    raw = parseToml(text);
  } catch (err) {
    throw new ConfigError(source, `not valid TOML: ${(err as Error).message.split('\n')[0]}`);
  }
  if (isPlainObject(raw) && 'microvm' in raw) {
    // The VM settings were one global table before handlers had their own.
    throw new ConfigError('microvm', "the VM settings moved into each microvm handler's table, e.g. [runtime.handlers.vm] (see docs/config.md)");
  }
  if (!validate(raw)) {
    const first = validate.errors![0];
    throw new ConfigError(keyOf(first), problemOf(first));
  }
  const userHandlers = (raw as { runtime?: { handlers?: Record<string, Record<string, unknown>> } }).runtime?.handlers ?? {};
  const cfg = merge(defaultConfig(), raw);
  // Registry tables get their defaults per host, since hosts are user-named keys.
  for (const [host, reg] of Object.entries(cfg.registries as Record<string, Partial<RegistryConfig>>)) {
    cfg.registries[host] = { insecure: false, mirrors: [], ...reg };
    if (reg.auth) checkRegistryAuth(host, reg.auth);
  }
  // Handler tables are not merged with the built-in ones: a table replaces the
  // default of its name, on top of its own type's defaults.
  const defaults = defaultConfig().runtime.handlers;
  cfg.runtime.handlers = { ...defaults };
  for (const [name, table] of Object.entries(userHandlers)) cfg.runtime.handlers[name] = handlerConfig(name, table, defaults[name], types);
  checkHandlers(cfg, types);
  return cfg;
}

/**
 * `[registries."<host>".auth]` holds one form of credentials: username and
 * password, `auth` (base64 of "user:pass"), or `identity_token`. Two forms
 * would leave which one is sent to chance, and an empty username is a typo
 * that would otherwise surface as a registry's 401 at the first pull.
 */
export function checkRegistryAuth(host: string, auth: RegistryAuthConfig): void {
  const key = `registries."${host}".auth`;
  const forms = [
    auth.username !== undefined || auth.password !== undefined ? 'username/password' : '',
    auth.auth !== undefined ? 'auth' : '',
    auth.identity_token !== undefined ? 'identity_token' : '',
  ].filter(Boolean);
  if (forms.length === 0) throw new ConfigError(key, `credentials for ${host} need one of username/password, auth or identity_token`);
  if (forms.length > 1) throw new ConfigError(key, `credentials for ${host} give ${forms.join(' and ')}; keep one form`);
  if (forms[0] === 'username/password' && !auth.username) throw new ConfigError(key, `credentials for ${host} have an empty username`);
  if (auth.auth !== undefined) {
    const decoded = Buffer.from(auth.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw new ConfigError(key, `auth for ${host} must be base64 of "username:password"`);
    if (colon === 0) throw new ConfigError(key, `credentials for ${host} have an empty username (in auth)`);
  }
  if (auth.identity_token === '') throw new ConfigError(key, `credentials for ${host} have an empty identity_token`);
}

function handlerConfig(name: string, table: Record<string, unknown>, builtIn: HandlerConfig | undefined, types: readonly HandlerConfigDef[]): HandlerConfig {
  const key = `runtime.handlers.${name}`;
  // The built-in handlers' tables may leave `type` out: [runtime.handlers.vm] vcpus = 2.
  const type = typeof table.type === 'string' ? table.type : builtIn?.type;
  const def = types.find((t) => t.type === type);
  if (!def) throw new ConfigError(`${key}.type`, `must be one of ${types.map((t) => JSON.stringify(t.type)).join(', ')}`);
  const check = ajv.compile(handlerSchema(def));
  const withType = { ...table, type: def.type };
  if (!check(withType)) {
    const first = check.errors![0];
    throw new ConfigError(`${key}.${keyOf(first)}`, problemOf(first));
  }
  return { ...def.defaults(), ...withType };
}

function checkHandlers(cfg: VmpodConfig, types: readonly HandlerConfigDef[]): void {
  const { handlers, default_handler, untrusted_handler } = cfg.runtime;
  const names = Object.keys(handlers);
  if (!handlers[default_handler]) {
    throw new ConfigError('runtime.default_handler', `"${default_handler}" is not a configured handler (have: ${names.join(', ')})`);
  }
  if (!handlers[untrusted_handler]) {
    throw new ConfigError('runtime.untrusted_handler', `"${untrusted_handler}" is not a configured handler (have: ${names.join(', ')})`);
  }
  const untrusted = types.find((t) => t.type === handlers[untrusted_handler].type);
  if (untrusted?.isolation !== 'vm') {
    const vmTypes = types
      .filter((t) => t.isolation === 'vm')
      .map((t) => t.type)
      .join(', ');
    throw new ConfigError('runtime.untrusted_handler', `"${untrusted_handler}" must be a handler that runs pods in a VM (type ${vmTypes}): untrusted pods never run on the host`);
  }
}

/**
 * Load the config file. A missing file at the default path means "all
 * defaults"; a missing file the operator named explicitly is an error.
 */
export function loadConfig(path: string, explicit: boolean, types: readonly HandlerConfigDef[]): VmpodConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !explicit) return defaultConfig();
    throw new ConfigError(path, `cannot read: ${(err as Error).message}`);
  }
  return parseConfig(text, types, path);
}
