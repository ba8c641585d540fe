// The config as it may be shown: `crictl info` (Status verbose) prints the
// effective config, and the credentials of `[registries."<host>".auth]`
// must not reach every CRI client's screen and bug reports. Which form a
// host uses stays visible; its values do not.

import type { RegistryAuthConfig, VmpodConfig } from './types';

export const REDACTED = '<redacted>';

/** A copy of `cfg` with every registry credential value replaced by REDACTED. */
export function withoutSecrets(cfg: VmpodConfig): VmpodConfig {
  const registries: VmpodConfig['registries'] = {};
  for (const [host, reg] of Object.entries(cfg.registries)) {
    registries[host] = reg.auth ? { ...reg, auth: redactAuth(reg.auth) } : reg;
  }
  return { ...cfg, registries };
}

function redactAuth(auth: RegistryAuthConfig): RegistryAuthConfig {
  const out: RegistryAuthConfig = {};
  // The username is who, not the secret; it helps to see which account a host uses.
  if (auth.username !== undefined) out.username = auth.username;
  if (auth.password !== undefined) out.password = REDACTED;
  if (auth.auth !== undefined) out.auth = REDACTED;
  if (auth.identity_token !== undefined) out.identity_token = REDACTED;
  return out;
}
