import { InvalidArgumentError } from '../../../../common/errors';

/**
 * Join QEMU `key=value` options. QEMU splits option strings on ',' (a literal
 * comma is written ',,'), so a value holding a comma would silently change
 * the meaning of the option; paths are doubled, everything else refused.
 */
export function opts(head: string, pairs: Array<[string, string | number]>): string {
  const parts = [head];
  for (const [k, v] of pairs) parts.push(`${k}=${escapeValue(k, String(v))}`);
  return parts.join(',');
}

function escapeValue(key: string, value: string): string {
  if (/[\n\0]/.test(value)) throw new InvalidArgumentError(`qemu option ${key}`, 'contains a newline or NUL');
  return value.replace(/,/g, ',,');
}
