import { randomBytes } from 'node:crypto';

/** 64 hex characters, like containerd and CRI-O ids (crictl shows the first 13). */
export function newId(): string {
  return randomBytes(32).toString('hex');
}

export function nowNs(): string {
  return (BigInt(Date.now()) * 1_000_000n).toString();
}

export function matchesLabels(labels: Record<string, string>, selector: Record<string, string> | undefined | null): boolean {
  for (const [k, v] of Object.entries(selector ?? {})) if (labels[k] !== v) return false;
  return true;
}
