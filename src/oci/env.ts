// The container environment: HOSTNAME, then the image's Env, then the CRI
// envs, later entries replacing earlier ones with the same name in place
// (containerd's order, so `env` inside a container looks the same).

import type { ImageRunConfig } from './input';

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export function mergeEnv(hostname: string, image: ImageRunConfig, envs: readonly { key: string; value: string }[], tty: boolean): string[] {
  const order: string[] = [];
  const values = new Map<string, string>();
  const set = (entry: string): void => {
    const eq = entry.indexOf('=');
    const key = eq < 0 ? entry : entry.slice(0, eq);
    if (!key) return;
    if (!values.has(key)) order.push(key);
    values.set(key, entry);
  };
  set(`PATH=${DEFAULT_PATH}`);
  if (hostname) set(`HOSTNAME=${hostname}`);
  for (const e of image.Env ?? []) set(e);
  for (const { key, value } of envs) set(`${key}=${value}`);
  if (tty && !values.has('TERM')) set('TERM=xterm');
  return order.map((k) => values.get(k)!);
}
