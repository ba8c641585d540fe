import t from 'tap';
import { HpackDecoder } from '../../../../../src/cri/transport/hpack/decoder';
import { integer, stringLiteral, TestHpackEncoder } from '../hpack-test-encoder';

const hex = (h: string) => Buffer.from(h.replace(/\s/g, ''), 'hex');
const pairs = (d: HpackDecoder, block: Buffer) => d.decode(block, 1 << 20).map((f) => [f.name, f.value]);
const LIST = 1 << 20;

type Step = { id: string; block: string; headers: string[][]; table: string[][]; size: number };

const DATE_21 = 'Mon, 21 Oct 2013 20:13:21 GMT';
const DATE_22 = 'Mon, 21 Oct 2013 20:13:22 GMT';
const COOKIE = 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1';

const request1 = [
  [':method', 'GET'],
  [':scheme', 'http'],
  [':path', '/'],
  [':authority', 'www.example.com'],
];
const request2 = [...request1, ['cache-control', 'no-cache']];
const request3 = [
  [':method', 'GET'],
  [':scheme', 'https'],
  [':path', '/index.html'],
  [':authority', 'www.example.com'],
  ['custom-key', 'custom-value'],
];
const requestTables = [
  [[':authority', 'www.example.com']],
  [
    ['cache-control', 'no-cache'],
    [':authority', 'www.example.com'],
  ],
  [
    ['custom-key', 'custom-value'],
    ['cache-control', 'no-cache'],
    [':authority', 'www.example.com'],
  ],
];
const response1 = [
  [':status', '302'],
  ['cache-control', 'private'],
  ['date', DATE_21],
  ['location', 'https://www.example.com'],
];
const response2 = [
  [':status', '307'],
  ['cache-control', 'private'],
  ['date', DATE_21],
  ['location', 'https://www.example.com'],
];
const response3 = [
  [':status', '200'],
  ['cache-control', 'private'],
  ['date', DATE_22],
  ['location', 'https://www.example.com'],
  ['content-encoding', 'gzip'],
  ['set-cookie', COOKIE],
];
const responseTables = [
  [
    ['location', 'https://www.example.com'],
    ['date', DATE_21],
    ['cache-control', 'private'],
    [':status', '302'],
  ],
  [
    [':status', '307'],
    ['location', 'https://www.example.com'],
    ['date', DATE_21],
    ['cache-control', 'private'],
  ],
  [
    ['set-cookie', COOKIE],
    ['content-encoding', 'gzip'],
    ['date', DATE_22],
  ],
];

// RFC 7541 Appendix C: each sequence runs on one decoder, as on one connection.
const sequences: Array<{ desc: string; tableSize: number; steps: Step[] }> = [
  {
    desc: 'C.3 requests without Huffman',
    tableSize: 4096,
    steps: [
      { id: 'C.3.1', block: '828684410f7777772e6578616d706c652e636f6d', headers: request1, table: requestTables[0], size: 57 },
      { id: 'C.3.2', block: '828684be58086e6f2d6361636865', headers: request2, table: requestTables[1], size: 110 },
      { id: 'C.3.3', block: '828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565', headers: request3, table: requestTables[2], size: 164 },
    ],
  },
  {
    desc: 'C.4 requests with Huffman',
    tableSize: 4096,
    steps: [
      { id: 'C.4.1', block: '828684418cf1e3c2e5f23a6ba0ab90f4ff', headers: request1, table: requestTables[0], size: 57 },
      { id: 'C.4.2', block: '828684be5886a8eb10649cbf', headers: request2, table: requestTables[1], size: 110 },
      { id: 'C.4.3', block: '828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf', headers: request3, table: requestTables[2], size: 164 },
    ],
  },
  {
    desc: 'C.5 responses without Huffman, 256-byte table (evictions)',
    tableSize: 256,
    steps: [
      {
        id: 'C.5.1',
        block: '4803333032580770726976617465611d4d6f6e2c203231204f637420323031332032303a31333a323120474d546e1768747470733a2f2f7777772e6578616d706c652e636f6d',
        headers: response1,
        table: responseTables[0],
        size: 222,
      },
      { id: 'C.5.2', block: '4803333037c1c0bf', headers: response2, table: responseTables[1], size: 222 },
      {
        id: 'C.5.3',
        block:
          '88c1611d4d6f6e2c203231204f637420323031332032303a31333a323220474d54c05a04677a69707738666f6f3d4153444a4b48514b425a584f5157454f50495541585157454f49553b206d61782d6167653d333630303b2076657273696f6e3d31',
        headers: response3,
        table: responseTables[2],
        size: 215,
      },
    ],
  },
  {
    desc: 'C.6 responses with Huffman, 256-byte table (evictions)',
    tableSize: 256,
    steps: [
      { id: 'C.6.1', block: '488264025885aec3771a4b6196d07abe941054d444a8200595040b8166e082a62d1bff6e919d29ad171863c78f0b97c8e9ae82ae43d3', headers: response1, table: responseTables[0], size: 222 },
      { id: 'C.6.2', block: '4883640effc1c0bf', headers: response2, table: responseTables[1], size: 222 },
      {
        id: 'C.6.3',
        block: '88c16196d07abe941054d444a8200595040b8166e084a62d1bffc05a839bd9ab77ad94e7821dd7f2e6c7b335dfdfcd5b3960d5af27087f3672c1ab270fb5291f9587316065c003ed4ee5b1063d5007',
        headers: response3,
        table: responseTables[2],
        size: 215,
      },
    ],
  },
];

for (const seq of sequences) {
  t.test(`RFC 7541 ${seq.desc}`, async (t) => {
    const d = new HpackDecoder(seq.tableSize);
    for (const s of seq.steps) {
      t.same(pairs(d, hex(s.block)), s.headers, `${s.id}: header list`);
      t.same(d.table, s.table, `${s.id}: dynamic table, newest first`);
      t.equal(d.tableSize, s.size, `${s.id}: table size`);
    }
  });
}

t.test('RFC 7541 C.2 single representations', async (t) => {
  const cases: Array<{ id: string; block: string; name: string; value: string; neverIndexed: boolean; size: number }> = [
    { id: 'C.2.1 literal with indexing', block: '400a637573746f6d2d6b65790d637573746f6d2d686561646572', name: 'custom-key', value: 'custom-header', neverIndexed: false, size: 55 },
    { id: 'C.2.2 literal without indexing', block: '040c2f73616d706c652f70617468', name: ':path', value: '/sample/path', neverIndexed: false, size: 0 },
    { id: 'C.2.3 literal never indexed', block: '100870617373776f726406736563726574', name: 'password', value: 'secret', neverIndexed: true, size: 0 },
    { id: 'C.2.4 indexed', block: '82', name: ':method', value: 'GET', neverIndexed: false, size: 0 },
  ];
  for (const c of cases) {
    const d = new HpackDecoder(4096);
    t.same(d.decode(hex(c.block), LIST), [{ name: c.name, value: c.value, neverIndexed: c.neverIndexed }], c.id);
    t.equal(d.tableSize, c.size, `${c.id}: table size`);
  }
});

t.test('dynamic table size updates', async (t) => {
  const d = new HpackDecoder(4096);
  pairs(d, hex('828684418cf1e3c2e5f23a6ba0ab90f4ff'));
  t.equal(d.tableSize, 57);
  t.same(pairs(d, Buffer.from([...integer(0, 5, 0x20), 0x82])), [[':method', 'GET']], 'an update to 0 then a field');
  t.equal(d.tableSize, 0, 'the update to 0 emptied the table');
  t.throws(() => d.decode(Buffer.from([0xbe]), LIST), { message: /index 62 is beyond the dynamic table \(0 entries\)/ }, 'the evicted entry is gone');
  const d2 = new HpackDecoder(4096);
  const twoUpdates = Buffer.from([...integer(100, 5, 0x20), ...integer(4096, 5, 0x20), 0x40, ...stringLiteral('k', false), ...stringLiteral('v'.repeat(200), false)]);
  pairs(d2, twoUpdates);
  t.equal(d2.tableSize, 233, 'two updates at the start (smallest, then final) are allowed; the final size holds a 233-byte entry');
  const d3 = new HpackDecoder(4096);
  pairs(d3, Buffer.from([...integer(40, 5, 0x20), 0x40, ...stringLiteral('k', false), ...stringLiteral('v'.repeat(20), false)]));
  t.equal(d3.tableSize, 0, 'an entry larger than the table empties it and is not added (RFC 7541 4.4)');
});

t.test('what RFC 7541 calls decoding errors throws, typed', async (t) => {
  const bad: Array<{ desc: string; block: number[]; problem: RegExp; limit?: number }> = [
    { desc: 'indexed field with index 0', block: [0x80], problem: /index 0/ },
    { desc: 'index past the static table with an empty dynamic table', block: [0xbe], problem: /beyond the dynamic table/ },
    { desc: 'literal name index past the tables', block: [0x7f, 0x10, 0x00], problem: /beyond the dynamic table/ },
    { desc: 'size update above SETTINGS_HEADER_TABLE_SIZE', block: integer(4097, 5, 0x20), problem: /4097 exceeds the announced limit 4096/ },
    { desc: 'size update after a field', block: [0x82, ...integer(0, 5, 0x20)], problem: /size update follows a header field/ },
    { desc: 'string longer than the block', block: [0x40, 0x0a, 0x61, 0x62], problem: /runs past the end of the block/ },
    { desc: 'value missing after the name', block: [0x40, 0x01, 0x61], problem: /string is missing/ },
    { desc: 'truncated integer', block: [0xff], problem: /runs past the end/ },
    { desc: 'bad Huffman padding in a value', block: [0x04, 0x81, 0x18], problem: /padding that is not all ones/ },
  ];
  for (const b of bad) {
    t.throws(() => new HpackDecoder(b.limit ?? 4096).decode(Buffer.from(b.block), LIST), { code: 'INVALID_ARGUMENT', message: b.problem }, b.desc);
  }
});

t.test('a header list above the limit is refused before it is built (HPACK bomb)', async (t) => {
  const enc = new TestHpackEncoder({ huffman: false, indexing: true });
  const d = new HpackDecoder(4096);
  const big = 'x'.repeat(4000);
  d.decode(enc.encode([['x-big', big]]), LIST);
  // 1000 one-byte references to a 4 KB entry: a 1 KB block claiming 4 MB.
  const bomb = Buffer.alloc(1000, 0xbe);
  t.throws(() => d.decode(bomb, 256 * 1024), { code: 'RESOURCE_EXHAUSTED', message: /exceeds 262144 bytes/ });
});

t.test('a client encoder that reuses its dynamic table decodes exactly', async (t) => {
  const enc = new TestHpackEncoder({ huffman: true, indexing: true });
  const d = new HpackDecoder(4096);
  const req = (n: number) =>
    [
      [':method', 'POST'],
      [':scheme', 'http'],
      [':path', `/runtime.v1.RuntimeService/M${n % 3}`],
      [':authority', '/run/vmpod/vmpod.sock'],
      ['content-type', 'application/grpc'],
      ['x-binary-bin', 'A\u0000\u00ff\u0080z'],
    ] as Array<[string, string]>;
  for (let i = 0; i < 50; i++) t.same(pairs(d, enc.encode(req(i))), req(i), `request ${i}`);
});
