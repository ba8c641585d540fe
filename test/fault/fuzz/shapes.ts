// The values the CRI fuzzer puts in scalar fields: strings of the shapes that
// break parsers, paths and command lines, and numbers at the edges of their
// type. Pure functions of the Rng.

import type { Rng } from './rng';

/** Each string shape by name, so the unit test can check that every one shows up. */
export const STRING_SHAPES = {
  empty: () => '',
  name: (r: Rng) => nameLike(r),
  long: (r: Rng) => r.pick(['a', 'x-', '\u00e9', '/']).repeat(r.pick([254, 300, 4097, 70_000])),
  control: (r: Rng) => `${nameLike(r)}${String.fromCharCode(1 + r.int(31))}${r.pick(['\n', '\r\n', '\t', '\x1b[2J', '\x7f'])}${nameLike(r)}`,
  dotdot: (r: Rng) => r.pick(['..', '../..', '../../../etc/passwd', 'a/../../b', '.', './..', '..\\..']),
  slash: (r: Rng) => r.pick(['/', '//', '/a/b', `/${nameLike(r)}/`, 'a/b', '/proc/self/root', '/dev/null']),
  cniArgs: (r: Rng) => r.pick([';IP=10.88.0.250', `${nameLike(r)};IP=10.88.0.250;K8S_POD_NAME=x`, 'a=b;c=d', 'IgnoreUnknown=1;IP=1.2.3.4']),
  unicode: (r: Rng) => r.pick(['\u00fcn\u00efc\u00f8d\u00e9', '\u202etxt.exe', '\ud83d\ude42', '\ud800', '\u0000\u00ff', '\u4e2d\u6587', '\ufeffbom', 'e\u0301']),
  nul: (r: Rng) => `${nameLike(r)}\0${nameLike(r)}`,
  whitespace: (r: Rng) => r.pick([' ', ' a', 'a ', 'a b', '\n', 'options ndots:5\nnameserver 1.1.1.1']),
  numeric: (r: Rng) => r.pick(['-1', '0', '9223372036854775808', '1e309', '0x10', 'NaN']),
  shellish: (r: Rng) => r.pick(['$(true)', '`true`', '${HOME}', '%s%n%x', '\'"', '*', '-rf', '--help', '|true', '&& true']),
  ipLike: (r: Rng) => r.pick(['10.88.0.1', '::1', '127.0.0.1', '256.1.1.1', 'fe80::1%eth0', '0.0.0.0', '1.1.1.1']),
} as const;
export type StringShape = keyof typeof STRING_SHAPES;
export const SHAPE_NAMES = Object.keys(STRING_SHAPES) as StringShape[];

export function nameLike(r: Rng): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789-.';
  const n = 1 + r.int(20);
  let s = 'abcdefghijklmnopqrstuvwxyz'[r.int(26)];
  for (let i = 1; i < n; i++) s += alphabet[r.int(alphabet.length)];
  return s.replace(/[-.]+$/, '') || 'a';
}

export function randomString(r: Rng): { value: string; shape: StringShape } {
  const shape = r.pick(SHAPE_NAMES);
  return { value: STRING_SHAPES[shape](r), shape };
}

const INT32 = [0, -1, 1, 2, 2147483647, -2147483648, 65535, 65536];
const UINT32 = [0, 1, 2, 4294967295, 65534, 65535, 65536];
/** int64s travel as decimal strings (the loader's `longs: String`), so every edge is exact. */
const INT64 = ['0', '-1', '1', '9223372036854775807', '-9223372036854775808', '1000000000', '4294967296'];
const UINT64 = ['0', '1', '18446744073709551615', '9223372036854775808', '4096'];
/** Finite only: NaN and the infinities are not values a CRI client means to send. */
const DOUBLE = [0, -1, 1, 0.5, 1e308, -1e308, Number.MIN_VALUE, Number.MAX_SAFE_INTEGER];
const FLOAT = [0, -1, 1, 0.5, 3.4e38, -3.4e38, 1e-45];

/** A value for a protobuf scalar type, or undefined for a type this does not know (never: the CRI uses only these). */
export function randomScalar(r: Rng, type: string): unknown {
  const small = r.chance(0.4);
  switch (type) {
    case 'int32':
    case 'sint32':
    case 'sfixed32':
      return small ? r.int(200) - 50 : r.pick(INT32);
    case 'uint32':
    case 'fixed32':
      return small ? r.int(200) : r.pick(UINT32);
    case 'int64':
    case 'sint64':
    case 'sfixed64':
      return small ? String(r.int(10_000) - 100) : r.pick(INT64);
    case 'uint64':
    case 'fixed64':
      return small ? String(r.int(10_000)) : r.pick(UINT64);
    case 'double':
      return small ? r.int(1000) / 10 : r.pick(DOUBLE);
    case 'float':
      return small ? r.int(1000) / 10 : r.pick(FLOAT);
    case 'bool':
      return r.chance(0.5);
    case 'bytes':
      return Buffer.from(Array.from({ length: r.pick([0, 1, 16, 300]) }, () => r.int(256)));
    case 'string':
      return randomString(r).value;
    default:
      return undefined;
  }
}
