import { readdirSync } from 'node:fs';
import type { NetworkReadiness } from '../cri/runtime/info';

/** NetworkReady as kubelet understands it: false, with a reason, until a CNI config exists. */
export function cniConfigPresent(dir: string): NetworkReadiness {
  let found: string[] = [];
  try {
    found = readdirSync(dir).filter((f) => /\.(conflist|conf|json)$/.test(f));
  } catch {
    // treated as empty
  }
  if (found.length > 0) return { ready: true, reason: '', message: '' };
  return { ready: false, reason: 'NetworkPluginNotReady', message: `no CNI network config found in ${dir}` };
}
