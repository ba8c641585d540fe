import t from 'tap';
import { isNodeLocalAddress } from '../../../src/image/http';
import { registryErrorCodes } from '../../../src/image/registry';

t.test('node-local addresses: loopback, link-local (metadata), unspecified, IPv4-mapped', (t) => {
  for (const a of ['127.0.0.1', '127.1.2.3', '169.254.169.254', '0.0.0.0', '::1', '[::1]', '::', 'fe80::1', '::ffff:127.0.0.1', '::ffff:7f00:1', '::ffff:a9fe:a9fe']) t.ok(isNodeLocalAddress(a), a);
  for (const a of ['10.0.0.1', '192.0.2.2', '8.8.8.8', '2001:db8::1', '::ffff:a00:1', 'registry.example', 'localhost']) t.notOk(isNodeLocalAddress(a), a);
  t.end();
});

t.test('registry error bodies: only spec error codes are shown', (t) => {
  t.equal(registryErrorCodes('{"errors":[{"code":"DENIED","message":"go to evil"},{"code":"NAME_UNKNOWN"},{"code":"DENIED"}]}'), ' (registry error: DENIED, NAME_UNKNOWN)');
  t.equal(registryErrorCodes('<html>evil</html>'), '');
  t.equal(registryErrorCodes('{"errors":[{"code":"<b>x</b>"},{"code":42}]}'), '');
  t.equal(registryErrorCodes('{"errors":"nope"}'), '');
  t.end();
});
