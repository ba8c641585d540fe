// In-guest self-test of the vsock addon over vsock_loopback (CID 1): run inside
// a vmpod guest (the agent runs it for kernel cmdline `vmpod.selftest=vsock`,
// or `node vsock-selftest.js` by hand). Every connection goes to CID 1, i.e.
// stays inside the guest. The last line printed is `vsock-selftest: PASS` or
// `vsock-selftest: FAIL <reason>`; the exit code is 0 / 1.
//
// Environment: VMPOD_SELFTEST_MIB (large transfer size, default 64),
// VMPOD_SELFTEST_CONNS (concurrent connections, default 50).

import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { release } from 'node:os';
import { connect, listen, localCid, VMADDR_CID_LOCAL, VMADDR_PORT_ANY, VsockError, VsockServer, VsockSocket } from '../../common/native/vsock';

type Say = (line: string) => void;

interface Step {
  name: string;
  timeoutMs: number;
  run: (say: Say) => Promise<string | void>;
}

function sha256(): ReturnType<typeof createHash> {
  return createHash('sha256');
}

/** Bytes until EOF, without destroying the socket (so half-close can be checked). */
function readAll(s: VsockSocket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    s.on('data', (c: Buffer) => parts.push(c));
    s.once('end', () => resolve(Buffer.concat(parts)));
    s.once('error', reject);
  });
}

/** A listener on CID 1 only (unreachable from outside the guest) running `handler` per connection. */
function server(handler: (s: VsockSocket) => void): { srv: VsockServer; port: number } {
  const srv = listen(VMADDR_PORT_ANY, { cid: VMADDR_CID_LOCAL, backlog: 256, allowHalfOpen: true });
  srv.on('connection', (s: VsockSocket) => {
    s.on('error', () => s.destroy());
    handler(s);
  });
  return { srv, port: srv.address().port };
}

function expectCode(err: unknown, codes: string[], what: string): string {
  if (!(err instanceof VsockError)) throw new Error(`${what}: expected a VsockError, got ${String(err)}`);
  if (!codes.includes(err.code)) throw new Error(`${what}: expected ${codes.join('/')}, got ${err.code} (${err.message})`);
  return err.code;
}

function steps(mib: number, conns: number): Step[] {
  return [
    {
      name: 'local CID is readable from /dev/vsock',
      timeoutMs: 5000,
      run: async () => `cid=${localCid()}`,
    },
    {
      name: 'listen twice on one port → EADDRINUSE',
      timeoutMs: 5000,
      run: async () => {
        const { srv, port } = server((s) => s.destroy());
        try {
          listen(port, { cid: VMADDR_CID_LOCAL }).close();
          throw new Error(`second listen on port ${port} succeeded`);
        } catch (err) {
          return `port ${port}: ${expectCode(err, ['EADDRINUSE'], 'second listen')}`;
        } finally {
          srv.close();
        }
      },
    },
    {
      name: 'connect to a closed port → ECONNREFUSED or ETIMEDOUT',
      timeoutMs: 10000,
      run: async () => {
        // Take a port number from the kernel, then close it: nobody listens there.
        const { srv, port } = server((s) => s.destroy());
        srv.close();
        try {
          (await connect(VMADDR_CID_LOCAL, port, { timeoutMs: 3000 })).destroy();
        } catch (err) {
          return `port ${port}: ${expectCode(err, ['ECONNREFUSED', 'ETIMEDOUT'], 'connect to closed port')}`;
        }
        throw new Error(`connect to closed port ${port} succeeded`);
      },
    },
    {
      name: `${conns} concurrent connections, 64 KiB echo each`,
      timeoutMs: 120000,
      run: async () => {
        const { srv, port } = server((s) => s.pipe(s));
        try {
          await Promise.all(
            Array.from({ length: conns }, async (_, i) => {
              const s = await connect(VMADDR_CID_LOCAL, port, { timeoutMs: 10000, allowHalfOpen: true });
              try {
                const data = randomBytes(64 * 1024);
                const got = readAll(s);
                s.end(data);
                const back = await got;
                if (!back.equals(data)) throw new Error(`connection ${i}: echo differs (${back.length} of ${data.length} bytes)`);
              } finally {
                s.destroy();
              }
            }),
          );
        } finally {
          srv.close();
        }
      },
    },
    {
      name: `${mib} MiB transfer with sha256, then half-close reply`,
      timeoutMs: 600000,
      run: async () => {
        // Server hashes everything until EOF, then answers with the digest on
        // the still-open other direction: this also proves half-close.
        const { srv, port } = server((s) => {
          const h = sha256();
          let n = 0;
          s.on('data', (c: Buffer) => {
            h.update(c);
            n += c.length;
          });
          s.on('end', () => s.end(`${n} ${h.digest('hex')}`));
        });
        try {
          const s = await connect(VMADDR_CID_LOCAL, port, { timeoutMs: 10000, allowHalfOpen: true });
          try {
            const reply = readAll(s);
            const mine = sha256();
            const block = randomBytes(1 << 20);
            const t0 = Date.now();
            for (let i = 0; i < mib; i++) {
              block[0] = i & 0xff; // vary blocks so a misordered chunk changes the hash
              const chunk = Buffer.from(block);
              mine.update(chunk);
              if (!s.write(chunk)) await new Promise((r) => s.once('drain', r));
            }
            s.end();
            const answer = (await reply).toString();
            const expect = `${mib << 20} ${mine.digest('hex')}`;
            if (answer !== expect) throw new Error(`server saw "${answer}", expected "${expect}"`);
            const secs = (Date.now() - t0) / 1000;
            return `${(mib / secs).toFixed(1)} MiB/s`;
          } finally {
            s.destroy();
          }
        } finally {
          srv.close();
        }
      },
    },
    {
      name: 'peer reset while writing → error on the writer, not a crash',
      timeoutMs: 20000,
      run: async () => {
        const { srv, port } = server((s) => s.destroy());
        try {
          const s = await connect(VMADDR_CID_LOCAL, port, { timeoutMs: 10000 });
          const outcome = await new Promise<string>((resolve) => {
            s.on('error', (err: VsockError) => resolve(err.code));
            s.on('close', () => resolve('closed'));
            s.resume();
            const big = Buffer.alloc(1 << 20);
            const pump = (): void => {
              while (!s.destroyed && s.write(big));
              if (!s.destroyed) s.once('drain', pump);
            };
            pump();
          });
          if (!['EPIPE', 'ECONNRESET', 'closed'].includes(outcome)) throw new Error(`unexpected outcome ${outcome}`);
          return outcome;
        } finally {
          srv.close();
        }
      },
    },
  ];
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: timed out after ${ms} ms`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/**
 * Whether the guest kernel has the vsock loopback transport: loaded as a
 * module (Debian's kernel), or built in (vmpod's own, which lists it in
 * modules.builtin and, having no parameters, has no /sys/module entry).
 */
function hasVsockLoopback(): boolean {
  if (existsSync('/sys/module/vsock_loopback')) return true;
  try {
    return readFileSync(`/lib/modules/${release()}/modules.builtin`, 'utf8')
      .split('\n')
      .some((l) => l.endsWith('/vsock_loopback.ko'));
  } catch {
    return false;
  }
}

/** Run every step; resolves with the result line (also printed last). */
export async function runVsockSelftest(say: Say = (l) => process.stdout.write(`${l}\n`), env: NodeJS.ProcessEnv = process.env): Promise<{ ok: boolean; line: string }> {
  const mib = Number(env.VMPOD_SELFTEST_MIB ?? 64);
  const conns = Number(env.VMPOD_SELFTEST_CONNS ?? 50);
  let line = 'vsock-selftest: PASS';
  if (!hasVsockLoopback()) {
    line = 'vsock-selftest: FAIL the guest kernel has no vsock_loopback (neither loaded nor built in)';
  } else {
    for (const step of steps(mib, conns)) {
      const t0 = Date.now();
      try {
        const detail = await withTimeout(step.run(say), step.timeoutMs, step.name);
        say(`vsock-selftest: ok - ${step.name}${detail ? ` (${detail})` : ''} [${Date.now() - t0} ms]`);
      } catch (err) {
        line = `vsock-selftest: FAIL ${step.name}: ${(err as Error).message}`;
        break;
      }
    }
  }
  say(line);
  return { ok: line.endsWith('PASS'), line };
}

if (require.main === module) {
  runVsockSelftest().then(
    (r) => {
      process.exitCode = r.ok ? 0 : 1;
    },
    (err: unknown) => {
      process.stdout.write(`vsock-selftest: FAIL ${(err as Error).stack ?? String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
