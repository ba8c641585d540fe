import t from 'tap';
import { encodeGrpcMessage, parseGrpcTimeout } from '../../../../src/cri/grpc/metadata';

t.test('grpc-timeout in each unit, and what is not one', async (t) => {
  t.equal(parseGrpcTimeout('2H'), 7_200_000);
  t.equal(parseGrpcTimeout('3M'), 180_000);
  t.equal(parseGrpcTimeout('10S'), 10_000);
  t.equal(parseGrpcTimeout('250m'), 250);
  t.equal(parseGrpcTimeout('1500u'), 1);
  t.equal(parseGrpcTimeout('999999n'), 0, 'under a millisecond is 0: already due');
  t.equal(parseGrpcTimeout('99999999S'), 99_999_999_000, 'eight digits');
  for (const bad of ['', '5', 'S', '123456789S', '1s', '-1S', '1.5S', ' 1S']) t.equal(parseGrpcTimeout(bad), undefined, JSON.stringify(bad));
});

t.test('grpc-message: printable ASCII as it is, everything else and "%" percent-encoded as UTF-8', async (t) => {
  t.equal(encodeGrpcMessage('container "abc" not found'), 'container "abc" not found');
  t.equal(encodeGrpcMessage('100%'), '100%25');
  t.equal(encodeGrpcMessage('a\nb'), 'a%0Ab');
  t.equal(encodeGrpcMessage('ü'), '%C3%BC');
  t.equal(encodeGrpcMessage('\ud800'), '%EF%BF%BD', 'a lone surrogate becomes U+FFFD');
  t.equal(decodeURIComponent(encodeGrpcMessage('pod "x/ü%" — gone')), 'pod "x/ü%" — gone', 'decodes back to the text');
});
