import { randomBytes } from 'node:crypto';

/** 64 hex characters, like containerd and CRI-O ids (crictl shows the first 13). */
export function newId(): string {
  return randomBytes(32).toString('hex');
}
