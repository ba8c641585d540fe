// What the rewriter does to `:authority` and `host`, the only header fields
// it changes.
//
// gRPC clients that dial a unix socket by path send that path as the
// authority: Go gRPC before kubelet 1.30 and crictl 1.30 send
// "/run/vmpod/vmpod.sock", grpc-go's unix resolver sends it percent-encoded,
// newer ones send "localhost", some send nothing at all (""). nghttp2, under
// Node's HTTP/2 server, refuses a server-side authority with any byte outside
// RFC 3986's authority characters, and an empty one, with RST_STREAM
// PROTOCOL_ERROR before the gRPC server sees the request; Node has no option to turn
// that off. containerd and CRI-O (Go's HTTP/2 server) accept all of these.
//
// So a value nghttp2 would refuse only for those reasons is replaced by one
// it accepts and that keeps the information:
// * "" becomes "localhost", what kubelet 1.30+ sends for a unix socket;
// * any other value has each byte outside the authority characters, and
//   every "%", written as %XX, so "/run/vmpod/vmpod.sock" becomes
//   "%2Frun%2Fvmpod%2Fvmpod.sock" (valid RFC 3986, and it decodes back to
//   exactly what the client sent).
// A value nghttp2 refuses for another reason is left as it is, so nghttp2
// still refuses it: control characters, DEL, tabs, leading or trailing
// spaces (RFC 9113 8.2.1 makes those malformed in any field). "@" is passed
// on untouched: nghttp2 versions differ on whether userinfo is allowed, and
// the rewriter must not decide that question for them.

/** RFC 3986 authority characters as nghttp2 checks them (nghttp2_check_authority), plus "@". */
const AUTHORITY_BYTE = new Uint8Array(256);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789' + "-._~!$&'()*+,;=:@[]%") AUTHORITY_BYTE[c.charCodeAt(0)] = 1;

/** The authority kubelet 1.30+ sends for a unix socket; stands in for an empty one. */
export const EMPTY_AUTHORITY_REPLACEMENT = 'localhost';

const PERCENT = '%'.charCodeAt(0);
const SPACE = 0x20;

function isFieldByte(b: number): boolean {
  // Visible ASCII, space, or obs-text (0x80-0xff): what a header value may hold besides HTAB.
  return (b >= SPACE && b <= 0x7e) || b >= 0x80;
}

/** True when the value (latin1: one char per byte) has only authority characters. */
function isAcceptedAuthority(value: string): boolean {
  for (let i = 0; i < value.length; i++) if (!AUTHORITY_BYTE[value.charCodeAt(i)]) return false;
  return true;
}

/**
 * The value to pass on to nghttp2 for an `:authority` or `host` field the
 * client sent (latin1 string, one char per byte). Returns the same string
 * when it needs no change.
 */
export function acceptableAuthority(value: string): string {
  if (value === '') return EMPTY_AUTHORITY_REPLACEMENT;
  if (isAcceptedAuthority(value)) return value;
  for (let i = 0; i < value.length; i++) if (!isFieldByte(value.charCodeAt(i))) return value;
  if (value.charCodeAt(0) === SPACE || value.charCodeAt(value.length - 1) === SPACE) return value;
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const b = value.charCodeAt(i);
    out += AUTHORITY_BYTE[b] && b !== PERCENT ? value[i] : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** The header fields whose value is an authority. */
export function isAuthorityField(name: string): boolean {
  return name === ':authority' || name === 'host';
}
