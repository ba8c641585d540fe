// Small request validators shared by handlers. Each names the field it rejects
// so that a caller can fix the request from the message alone.

import { isIP } from 'node:net';
import { InvalidArgumentError } from '../../common/errors';

export function requireString(value: string | undefined | null, field: string): string {
  if (typeof value !== 'string' || value.length === 0) throw new InvalidArgumentError(field, 'is required');
  return value;
}

export function requireObject<T>(value: T | undefined | null, field: string): T {
  if (value === undefined || value === null) throw new InvalidArgumentError(field, 'is required');
  return value;
}

/** Non-negative int64 given as a string, number or Long-like; returns a bigint. */
export function int64(value: unknown, field: string): bigint {
  try {
    if (typeof value === 'bigint') return value;
    if (typeof value === 'number' && Number.isInteger(value)) return BigInt(value);
    if (typeof value === 'string' && /^-?\d+$/.test(value)) return BigInt(value);
    if (isLongLike(value)) return BigInt(value.toString());
  } catch {
    // fall through to the error below
  }
  throw new InvalidArgumentError(field, `is not an integer: ${String(value)}`);
}

/** A protobufjs Long (what an int64 decodes to without proto-loader's `longs: String`): its toString gives the decimal value. */
function isLongLike(value: unknown): value is { low: number; high: number; toString(): string } {
  return typeof value === 'object' && value !== null && typeof (value as { low?: unknown }).low === 'number' && typeof (value as { high?: unknown }).high === 'number';
}

/**
 * Strings that become an argument vector or environment (execve): a NUL byte
 * would end the string early, and Node refuses to spawn one at all (an
 * INTERNAL error before this check; found by the CRI fuzzer in ExecSync).
 */
export function argvStrings(values: readonly string[], field: string): void {
  values.forEach((v, i) => {
    if (v.includes('\0')) throw new InvalidArgumentError(`${field}[${i}]`, 'holds a NUL byte, which no argument or environment string can carry');
  });
}

const POD_CIDR_FIELD = 'runtime_config.network_config.pod_cidr';

/** kubelet may send one CIDR or an IPv4,IPv6 pair for dual stack. */
export function validatePodCidr(value: string): string {
  const parts = value.split(',').map((p) => p.trim());
  for (const part of parts) {
    const [addr, prefix, ...rest] = part.split('/');
    const family = isIP(addr ?? '');
    const max = family === 6 ? 128 : 32;
    const bits = Number(prefix);
    if (rest.length || !family || prefix === undefined || !/^\d+$/.test(prefix) || bits > max) {
      throw new InvalidArgumentError(POD_CIDR_FIELD, `"${part}" is not a CIDR such as 10.244.0.0/24`);
    }
  }
  return parts.join(',');
}
