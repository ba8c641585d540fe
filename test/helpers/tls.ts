// A self-signed certificate for 127.0.0.1, made with openssl, for the tests
// that serve TLS (the registry, the streaming server, dialSpdy).

import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

/** Whether openssl is there to make certificates (tests that need one skip, saying so, without it). */
export const opensslAvailable = ((): boolean => {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/** Writes `<dir>/cert.pem` and `<dir>/key.pem`: P-256, valid `days`, CN and SAN 127.0.0.1. */
export function selfSignedCert(dir: string, days = 1): { cert: string; key: string } {
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      String(days),
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      key,
      '-out',
      cert,
    ],
    { stdio: 'ignore' },
  );
  return { cert, key };
}
