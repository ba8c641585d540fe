import t from 'tap';
import * as protobuf from 'protobufjs';
import { InvalidArgumentError } from '../../../common/errors';
import { argvStrings, int64, validatePodCidr } from '../../../src/cri/validate';

/** What protobufjs decodes an int64 field to when it is not asked for strings: a Long. */
function decodedInt64(decimal: string): protobuf.Long {
  return protobuf.Reader.create(protobuf.Writer.create().int64(decimal).finish()).int64();
}

t.test('int64 takes every form an int64 field arrives in', async (t) => {
  const cases: { desc: string; value: unknown; want: bigint }[] = [
    { desc: 'decimal string (proto-loader longs: String)', value: '30', want: 30n },
    { desc: 'number', value: 7, want: 7n },
    { desc: 'bigint', value: 9007199254740993n, want: 9007199254740993n },
    { desc: 'protobufjs Long as decoded from the wire, beyond 2^53', value: decodedInt64('9007199254740993'), want: 9007199254740993n },
  ];
  for (const c of cases) t.equal(int64(c.value, 'timeout'), c.want, c.desc);
});

t.test('int64 refuses what is not an integer, naming the field', async (t) => {
  const cases: { desc: string; value: unknown }[] = [
    { desc: 'fraction', value: 1.5 },
    { desc: 'non-numeric string', value: '30s' },
    { desc: 'plain object (its toString is not a number)', value: { seconds: 30 } },
    { desc: 'object whose toString is numeric but is no Long', value: { toString: () => '30' } },
    { desc: 'null', value: null },
  ];
  for (const c of cases) t.throws(() => int64(c.value, 'timeout'), { constructor: InvalidArgumentError, field: 'timeout', message: /is not an integer/ }, c.desc);
});

t.test('argvStrings refuses a NUL byte, naming the element (ExecSync with one made spawn throw: INTERNAL)', async (t) => {
  t.doesNotThrow(() => argvStrings(['echo', '', 'a b', '\u00e9'], 'cmd'));
  t.throws(() => argvStrings(['echo', 'nb6rvf1k77\0yx7k'], 'cmd'), { constructor: InvalidArgumentError, field: 'cmd[1]', message: /NUL/ });
});

t.test('validatePodCidr takes what kubelet sends (one CIDR or a dual-stack pair) and refuses the rest, naming the field', async (t) => {
  const ok: [string, string, string][] = [
    ['IPv4', '10.244.0.0/24', '10.244.0.0/24'],
    ['IPv6', 'fd00:10:244::/64', 'fd00:10:244::/64'],
    ['dual stack, spaces trimmed', '10.244.0.0/24, fd00::/64', '10.244.0.0/24,fd00::/64'],
    ['the widest prefixes', '0.0.0.0/0,::/128', '0.0.0.0/0,::/128'],
  ];
  for (const [desc, value, want] of ok) t.equal(validatePodCidr(value), want, desc);
  const bad: [string, string][] = [
    ['no prefix', '10.244.0.0'],
    ['not an address', 'pods/24'],
    ['IPv4 prefix over 32', '10.0.0.0/33'],
    ['IPv6 prefix over 128', 'fd00::/129'],
    ['a prefix that is not a number', '10.0.0.0/2x'],
    ['two slashes', '10.0.0.0/8/8'],
    ['an empty part', '10.0.0.0/8,'],
  ];
  for (const [desc, value] of bad) {
    t.throws(() => validatePodCidr(value), { constructor: InvalidArgumentError, field: 'runtime_config.network_config.pod_cidr', message: /is not a CIDR such as/ }, desc);
  }
});
