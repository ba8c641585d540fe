import t from 'tap';
import * as protobuf from 'protobufjs';
import { InvalidArgumentError } from '../../../common/errors';
import { argvStrings, int64 } from '../../../src/cri/validate';

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
