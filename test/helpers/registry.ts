// Starts Debian's docker-registry (distribution 2.x) on a free loopback port
// with a temp storage dir: plain HTTP, or TLS with a self-signed certificate
// and htpasswd basic auth. Stopped by PID in teardown.

import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { httpRequest } from '../../src/image/http';
import { selfSignedCert } from './tls';

export const REGISTRY_BIN = '/usr/bin/docker-registry';

export interface RunningRegistry {
  /** `127.0.0.1:<port>` */
  host: string;
  scheme: 'http' | 'https';
  /** Registry storage root (blobs are under docker/registry/v2/blobs). */
  storage: string;
  caFile?: string;
  ca?: Buffer;
  username?: string;
  password?: string;
  pid: number;
  stop(): Promise<void>;
}

export interface RegistryOptions {
  tls?: boolean;
  auth?: { username: string; password: string };
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** bcrypt for htpasswd: apache2-utils' htpasswd when present, else libc crypt(3) through perl. */
export function bcryptHash(password: string): string {
  if (existsSync('/usr/bin/htpasswd')) {
    return execFileSync('/usr/bin/htpasswd', ['-nbB', 'u', password]).toString().trim().split(':')[1];
  }
  const alphabet = './ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const salt = [...randomBytes(22)].map((b) => alphabet[b % 64]).join('');
  const out = execFileSync('perl', ['-e', 'print crypt($ARGV[0], "\\$2b\\$05\\$" . $ARGV[1])', password, salt]).toString();
  if (!out.startsWith('$2b$')) throw new Error('perl crypt() does not support bcrypt here; install apache2-utils for htpasswd');
  return out;
}

export async function startRegistry(opts: RegistryOptions = {}): Promise<RunningRegistry> {
  if (!existsSync(REGISTRY_BIN)) throw new Error(`${REGISTRY_BIN} is missing: install the Debian package docker-registry`);
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-registry-'));
  const storage = join(dir, 'storage');
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  let tlsYaml = '';
  let authYaml = '';
  let caFile: string | undefined;
  if (opts.tls) {
    const made = selfSignedCert(dir, 2);
    const key = made.key;
    caFile = made.cert;
    tlsYaml = `  tls:\n    certificate: ${caFile}\n    key: ${key}\n`;
  }
  if (opts.auth) {
    const htpasswd = join(dir, 'htpasswd');
    writeFileSync(htpasswd, `${opts.auth.username}:${bcryptHash(opts.auth.password)}\n`);
    authYaml = `auth:\n  htpasswd:\n    realm: vmpod-test\n    path: ${htpasswd}\n`;
  }
  const config = join(dir, 'config.yml');
  writeFileSync(
    config,
    `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${storage}\n  delete:\n    enabled: true\n  maintenance:\n    uploadpurging:\n      enabled: false\nhttp:\n  addr: ${host}\n${tlsYaml}${authYaml}`,
  );
  const child: ChildProcess = spawn(REGISTRY_BIN, ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const ca = caFile ? readFileSync(caFile) : undefined;
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      process.kill(child.pid!, 'SIGTERM');
      const timer = setTimeout(() => child.exitCode === null && process.kill(child.pid!, 'SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`docker-registry exited at start: ${stderr.slice(0, 500)}`);
    }
    try {
      const res = await httpRequest({ url: new URL(`${opts.tls ? 'https' : 'http'}://${host}/v2/`), ca, timeoutMs: 1000 });
      res.resume();
      if (res.statusCode === 200 || res.statusCode === 401) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`docker-registry did not answer on ${host} within 15 s: ${stderr.slice(0, 500)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { host, scheme: opts.tls ? 'https' : 'http', storage, caFile, ca, username: opts.auth?.username, password: opts.auth?.password, pid: child.pid!, stop };
}

/** Path of a blob's data file in the registry's filesystem storage (to corrupt it in a test). */
export function registryBlobPath(reg: RunningRegistry, digest: string): string {
  const hex = digest.slice('sha256:'.length);
  return join(reg.storage, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
}
