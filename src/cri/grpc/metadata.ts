// The gRPC header fields the server reads and writes itself (gRPC's
// PROTOCOL-HTTP2.md): the request's `grpc-timeout` and the status message of
// the answer, `grpc-message`.

/** Milliseconds per grpc-timeout unit. */
const TIMEOUT_UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 };

/** A grpc-timeout value: at most 8 digits and a unit. */
const TIMEOUT = /^(\d{1,8})([HMSmun])$/;

/**
 * The timeout a `grpc-timeout` value gives, in milliseconds (0 for one under
 * a millisecond); `undefined` when the value is not a valid timeout. Pure.
 */
export function parseGrpcTimeout(value: string): number | undefined {
  const m = TIMEOUT.exec(value);
  if (!m) return undefined;
  return Math.floor(Number(m[1]) * TIMEOUT_UNIT_MS[m[2]]);
}

/**
 * A status message as `grpc-message` carries it: UTF-8, with every byte
 * outside printable ASCII, and "%", written as %XX (what gRPC clients
 * decode). Lone surrogates become U+FFFD on the way to UTF-8. Pure.
 */
export function encodeGrpcMessage(details: string): string {
  const bytes = Buffer.from(details, 'utf8');
  let plain = true;
  for (const b of bytes) if (b < 0x20 || b > 0x7e || b === 0x25) plain = false;
  if (plain) return details;
  let out = '';
  for (const b of bytes) out += b < 0x20 || b > 0x7e || b === 0x25 ? `%${b.toString(16).toUpperCase().padStart(2, '0')}` : String.fromCharCode(b);
  return out;
}
